// A sarama (Go) client for the integration suite: it speaks the dialect of
// the Kafka version it is told (-version), down to sarama's default 0.8.2,
// whose Produce v0 carries magic 0 message sets and whose Fetch v0 expects
// them back. Output is one JSON object per line, for the Python test to read.
//
//	sarama_client produce -brokers B -topic T -version V [-compression C] -n N
//	sarama_client consume -brokers B -topic T -version V -n N [-partition P]
//	sarama_client group   -brokers B -topic T -version V -group G -n N
//	sarama_client offsets -brokers B -topic T -version V [-partition P]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Shopify/sarama"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "sarama_client: "+format+"\n", args...)
	os.Exit(1)
}

func emit(v interface{}) {
	line, err := json.Marshal(v)
	if err != nil {
		fail("json: %v", err)
	}
	fmt.Println(string(line))
}

type record struct {
	Partition int32   `json:"partition"`
	Offset    int64   `json:"offset"`
	Key       *string `json:"key"`
	Value     *string `json:"value"`
	Timestamp int64   `json:"timestamp"`
}

func toRecord(m *sarama.ConsumerMessage) record {
	r := record{Partition: m.Partition, Offset: m.Offset, Timestamp: m.Timestamp.UnixNano() / 1e6}
	if m.Key != nil {
		k := string(m.Key)
		r.Key = &k
	}
	if m.Value != nil {
		v := string(m.Value)
		r.Value = &v
	}
	return r
}

func main() {
	if len(os.Args) < 2 {
		fail("usage: sarama_client produce|consume|group|offsets [flags]")
	}
	command := os.Args[1]
	flags := flag.NewFlagSet(command, flag.ExitOnError)
	brokers := flags.String("brokers", "", "host:port")
	topic := flags.String("topic", "", "topic")
	version := flags.String("version", "0.8.2.0", "the Kafka version whose dialect to speak")
	compression := flags.String("compression", "none", "none|gzip|snappy|lz4")
	count := flags.Int("n", 10, "records")
	partition := flags.Int("partition", 0, "partition")
	group := flags.String("group", "", "consumer group")
	flags.Parse(os.Args[2:])

	config := sarama.NewConfig()
	v, err := sarama.ParseKafkaVersion(*version)
	if err != nil {
		fail("version: %v", err)
	}
	config.Version = v
	config.ClientID = "skein-sarama-test"
	config.Metadata.Retry.Max = 10
	config.Metadata.Retry.Backoff = 200 * time.Millisecond
	addrs := strings.Split(*brokers, ",")

	switch command {
	case "produce":
		config.Producer.Return.Successes = true
		config.Producer.RequiredAcks = sarama.WaitForAll
		config.Producer.Partitioner = sarama.NewManualPartitioner
		switch *compression {
		case "none":
		case "gzip":
			config.Producer.Compression = sarama.CompressionGZIP
		case "snappy":
			config.Producer.Compression = sarama.CompressionSnappy
		case "lz4":
			config.Producer.Compression = sarama.CompressionLZ4
		default:
			fail("unknown compression %s", *compression)
		}
		producer, err := sarama.NewSyncProducer(addrs, config)
		if err != nil {
			fail("producer: %v", err)
		}
		// Batches of 100 messages, so that compressed wrappers hold many.
		for start := 0; start < *count; start += 100 {
			var batch []*sarama.ProducerMessage
			for i := start; i < start+100 && i < *count; i++ {
				m := &sarama.ProducerMessage{Topic: *topic, Partition: int32(*partition),
					Value: sarama.StringEncoder(fmt.Sprintf("value-%d", i))}
				if i%10 != 9 { // every tenth record is keyless
					m.Key = sarama.StringEncoder(fmt.Sprintf("key-%d", i))
				}
				batch = append(batch, m)
			}
			if err := producer.SendMessages(batch); err != nil {
				fail("send: %v", err)
			}
			for _, m := range batch {
				emit(map[string]interface{}{"partition": m.Partition, "offset": m.Offset})
			}
		}
		producer.Close()

	case "consume":
		consumer, err := sarama.NewConsumer(addrs, config)
		if err != nil {
			fail("consumer: %v", err)
		}
		pc, err := consumer.ConsumePartition(*topic, int32(*partition), sarama.OffsetOldest)
		if err != nil {
			fail("consume partition: %v", err)
		}
		deadline := time.After(60 * time.Second)
		for got := 0; got < *count; got++ {
			select {
			case m := <-pc.Messages():
				emit(toRecord(m))
			case e := <-pc.Errors():
				fail("consume: %v", e)
			case <-deadline:
				fail("consume: %d of %d records after 60 s", got, *count)
			}
		}
		pc.Close()
		consumer.Close()

	case "offsets":
		client, err := sarama.NewClient(addrs, config)
		if err != nil {
			fail("client: %v", err)
		}
		oldest, err := client.GetOffset(*topic, int32(*partition), sarama.OffsetOldest)
		if err != nil {
			fail("oldest: %v", err)
		}
		newest, err := client.GetOffset(*topic, int32(*partition), sarama.OffsetNewest)
		if err != nil {
			fail("newest: %v", err)
		}
		emit(map[string]int64{"oldest": oldest, "newest": newest})
		client.Close()

	case "group":
		config.Consumer.Offsets.Initial = sarama.OffsetOldest
		cg, err := sarama.NewConsumerGroup(addrs, *group, config)
		if err != nil {
			fail("group: %v", err)
		}
		h := &handler{want: *count, done: make(chan struct{})}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		go func() {
			for ctx.Err() == nil {
				if err := cg.Consume(ctx, []string{*topic}, h); err != nil {
					fail("group consume: %v", err)
				}
			}
		}()
		select {
		case <-h.done:
		case <-ctx.Done():
			fail("group: %d of %d records after 60 s", h.got, *count)
		}
		cancel()
		if err := cg.Close(); err != nil {
			fail("group close: %v", err)
		}
	default:
		fail("unknown command %s", command)
	}
}

// handler takes records until it has `want`, marking each for commit.
type handler struct {
	mu   sync.Mutex
	want int
	got  int
	done chan struct{}
	once sync.Once
}

func (h *handler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *handler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h *handler) ConsumeClaim(s sarama.ConsumerGroupSession, c sarama.ConsumerGroupClaim) error {
	for m := range c.Messages() {
		h.mu.Lock()
		if h.got < h.want {
			emit(toRecord(m))
			s.MarkMessage(m, "")
			h.got++
			if h.got == h.want {
				// Commit before saying done: sarama commits marked offsets on close too.
				h.once.Do(func() { close(h.done) })
			}
		}
		h.mu.Unlock()
	}
	return nil
}
