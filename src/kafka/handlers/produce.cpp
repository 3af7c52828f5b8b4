// Produce: each partition's records must be exactly one v2 batch (as Kafka
// requires from version 3): within the stream's max.message.bytes
// (MESSAGE_TOO_LARGE), with a valid CRC (CORRUPT_MESSAGE), compressed with a
// known codec or not at all; it is stored as sent. acks=0 gets no answer,
// acks=1 an answer once appended, acks=all once durable under the stream's
// fsync policy. The partitions of one request are appended concurrently, each
// on its own shard. Idempotent producers' retries are acknowledged with their
// first offsets and not appended again. Produce v0-2 carry message sets
// (magic 0 and 1), converted to one v2 batch per partition before all that.
// Once stored, the records are published to the router as events
// (record_publisher.hpp).
#include <chrono>

#include "kafka/handlers.hpp"
#include "kafka/offset_store.hpp"
#include "kafka/protocol/error_codes.hpp"
#include "kafka/protocol/message_set.hpp"
#include "kafka/record_publisher.hpp"
#include "storage/compression.hpp"

namespace skein::kafka {

namespace {

std::int16_t error_for(const storage::Error& error) {
  switch (error.code) {
    case storage::Errc::invalid_batch:
      return code(ErrorCode::corrupt_message);
    case storage::Errc::out_of_order:
      return code(ErrorCode::out_of_order_sequence_number);
    case storage::Errc::fenced:
      return code(ErrorCode::invalid_producer_epoch);
    default:
      return code(ErrorCode::kafka_storage_error);
  }
}

// Checks what can be checked before the partition's shard sees the batch
// (its CRC is checked there, as it is appended). 0 when it may be appended.
std::int16_t precheck(std::span<const std::byte> bytes, const storage::StreamConfig& config,
                      std::string& message) {
  if (bytes.size() > config.max_message_bytes) {
    message = "a batch of " + std::to_string(bytes.size()) + " bytes is over max.message.bytes " +
              std::to_string(config.max_message_bytes);
    return code(ErrorCode::message_too_large);
  }
  const storage::BatchCheck check = storage::check_batch(bytes, config.max_message_bytes, false);
  if (!check.header) {
    message = check.message;
    return code(ErrorCode::corrupt_message);
  }
  if (check.header->total_bytes() != bytes.size()) {
    message = "a produce request carries exactly one record batch per partition";
    return code(ErrorCode::invalid_record);
  }
  if (!storage::codec_from_id(check.header->compression())) {
    message = "unknown compression codec " + std::to_string(check.header->compression());
    return code(ErrorCode::corrupt_message);
  }
  return 0;
}

// The batch to append into `batch`: a copy of the request's, or its message
// set converted. 0 when it may be appended, else the error, with `message`.
std::int16_t prepare(const Records& records, std::int16_t version,
                     const storage::StreamConfig& config, std::vector<std::byte>& batch,
                     std::string& message) {
  const auto bytes = records.bytes();
  if (records.is_null() || bytes.empty()) {
    message = "no records";
    return code(ErrorCode::invalid_record);
  }
  if (version < 3 && is_message_set(bytes)) {
    const MessageSetLimits limits{.max_batch_bytes = config.max_message_bytes};
    const auto now = std::chrono::system_clock::now().time_since_epoch();
    auto converted = message_set_to_batch(
        bytes, std::chrono::duration_cast<std::chrono::milliseconds>(now).count(), limits);
    if (auto* error = std::get_if<std::string>(&converted)) {
      message = std::move(*error);
      return code(ErrorCode::corrupt_message);
    }
    batch = std::move(std::get<std::vector<std::byte>>(converted));
    return precheck(batch, config, message);
  }
  if (std::int16_t error = precheck(bytes, config, message); error != 0) return error;
  batch.assign(bytes.begin(), bytes.end());
  return 0;
}

}  // namespace

awaitable<std::optional<m::ProduceResponse>> handle_produce(KafkaContext& context, Session& session,
                                                            const m::ProduceRequest& request,
                                                            std::int16_t version) {
  using Response = m::ProduceResponse;
  Response response;
  const bool valid_acks = request.acks == 0 || request.acks == 1 || request.acks == -1;
  const bool durable = request.acks == -1;
  std::vector<runtime::StreamService::AppendJob> jobs;
  std::vector<std::vector<core::Event>> events;  // per job: published once it is stored
  // Where each append's result goes in the response.
  std::vector<std::pair<std::size_t, std::size_t>> slots;
  for (const auto& topic : request.topic_data) {
    Response::TopicProduceResponse t;
    t.name = topic.name;
    std::int16_t topic_error = 0;
    // The internal stream is written by the node alone, as Kafka's are.
    const bool internal = topic.name == OffsetStore::kStream;
    if (internal) topic_error = code(ErrorCode::invalid_topic_exception);
    auto config = valid_acks && !internal
                      ? find_or_create_stream(context, topic.name, true, &topic_error)
                      : std::nullopt;
    for (const auto& part : topic.partition_data) {
      Response::PartitionProduceResponse p;
      p.index = part.index;
      runtime::PartitionRef partition =
          config ? context.streams.partition(topic.name, part.index) : nullptr;
      std::string message;
      std::vector<std::byte> batch;
      if (!valid_acks) {
        p.error_code = code(ErrorCode::invalid_required_acks);
      } else if (!config) {
        p.error_code = topic_error;
      } else if (!partition) {
        p.error_code = code(ErrorCode::unknown_topic_or_partition);
      } else if (std::int16_t error = prepare(part.records, version, *config, batch, message);
                 error != 0) {
        p.error_code = error;
        p.error_message = message;
      } else {
        slots.emplace_back(response.responses.size(), t.partition_responses.size());
        events.push_back(context.publisher ? context.publisher->events_of(session.shard, *config,
                                                                          part.index, batch)
                                           : std::vector<core::Event>{});
        jobs.push_back({partition, std::move(batch), durable});
      }
      p.base_offset = -1;
      t.partition_responses.push_back(std::move(p));
    }
    response.responses.push_back(std::move(t));
  }
  const std::vector<runtime::AppendResult> results =
      co_await context.streams.append_all(std::move(jobs));
  for (std::size_t i = 0; i < slots.size(); ++i) {
    auto& p = response.responses[slots[i].first].partition_responses[slots[i].second];
    const runtime::AppendResult& r = results[i];
    if (r.error) {
      p.error_code = error_for(*r.error);
      p.error_message = r.error->message;
    } else {
      p.base_offset = r.base_offset;
      p.log_start_offset = r.log_start;
      // A retry the log already had was published the first time.
      if (!r.duplicate && !events[i].empty()) {
        context.publisher->publish(session.shard, std::move(events[i]));
      }
    }
  }
  if (request.acks == 0) co_return std::nullopt;
  co_return response;
}

}  // namespace skein::kafka
