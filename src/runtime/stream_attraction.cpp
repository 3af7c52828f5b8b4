// Streams as router destinations: the drain rounds of a StreamDestination and
// the bookkeeping of which filters each stream has in the router.
#include "runtime/stream_attraction.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <future>

#include "core/kafka_partitioner.hpp"
#include "runtime/record_events.hpp"
#include "runtime/stream_routing.hpp"
#include "storage/record_batch.hpp"

namespace skein::runtime {

namespace asio = boost::asio;

namespace {

// The most events one round takes: bounds a round's memory and latency.
constexpr std::size_t kRoundEvents = 16384;
// The most a varint (zigzag varlong) takes in a record.
constexpr std::size_t kMaxVarint = 10;

// The record an attracted event becomes.
storage::RecordSpec record_of(const core::Event& event) {
  storage::RecordSpec record;
  record.key = event.key;
  record.value = event.payload;
  record.timestamp = event.timestamp_ms;
  record.headers.reserve(event.headers.size() + 2);
  record.headers.emplace_back(kTopicHeader, event.topic);
  if (!event.content_type.empty())
    record.headers.emplace_back(kContentTypeHeader, event.content_type);
  for (const auto& header : event.headers) record.headers.emplace_back(header.name, header.value);
  return record;
}

// An upper bound of the bytes record_of(event) takes in a batch: every
// varint counted at its widest, so that a batch split by these sums never
// passes max.message.bytes.
std::size_t record_bytes(const core::Event& event) {
  // length, attributes, timestamp delta, offset delta, key and value lengths, header count
  std::size_t n = 6 * kMaxVarint + 1 + event.payload.size() + (event.key ? event.key->size() : 0);
  auto header = [&n](std::size_t name, std::size_t value) { n += 2 * kMaxVarint + name + value; };
  header(kTopicHeader.size(), event.topic.size());
  if (!event.content_type.empty()) {
    header(kContentTypeHeader.size(), event.content_type.size());
  }
  for (const auto& h : event.headers) header(h.name.size(), h.value.size());
  return n;
}

void answer(const std::vector<core::EventPtr>& events, const std::optional<std::string>& failure) {
  for (const auto& event : events) {
    if (!event->receipt) continue;
    if (failure) {
      event->receipt->failed(*failure);
    } else {
      event->receipt->stored();
    }
  }
}

}  // namespace

StreamDestination::StreamDestination(ShardPool& pool, StreamService& streams, std::string stream,
                                     unsigned home)
    : core::Destination(home, std::numeric_limits<std::size_t>::max(),
                        core::SlowPolicy::disconnect),
      pool_(pool),
      streams_(streams),
      stream_(std::move(stream)) {}

void StreamDestination::wake() {
  if (draining_ || closed()) return;
  draining_ = true;
  auto self = std::static_pointer_cast<StreamDestination>(shared_from_this());
  asio::co_spawn(pool_.executor(home_shard()), drain(std::move(self)), asio::detached);
}

void StreamDestination::shut() {
  std::deque<core::EventPtr> left;
  take(left, std::numeric_limits<std::size_t>::max());
  answer({left.begin(), left.end()}, "stream " + stream_ + " no longer attracts events");
  close();
}

asio::awaitable<void> StreamDestination::drain(std::shared_ptr<StreamDestination> self) {
  for (;;) {
    std::deque<core::EventPtr> events;
    self->take(events, kRoundEvents);
    if (events.empty()) {
      self->draining_ = false;  // no suspension since take(): nothing can have arrived
      co_return;
    }
    co_await self->append_round(std::move(events));
  }
}

asio::awaitable<void> StreamDestination::append_round(std::deque<core::EventPtr> events) {
  const auto partitions = streams_.partitions(stream_);
  const auto config = streams_.find(stream_);
  if (partitions.empty() || !config) {
    std::vector<core::EventPtr> all(events.begin(), events.end());
    failed_.fetch_add(all.size(), std::memory_order_relaxed);
    answer(all, "stream " + stream_ + " is gone");
    co_return;
  }
  const auto count = static_cast<std::int32_t>(partitions.size());
  // Arrival order within each partition.
  std::vector<std::vector<core::EventPtr>> by_partition(partitions.size());
  for (auto& event : events) {
    if (event->ingress_stream == stream_) {
      if (event->receipt) event->receipt->stored(false);  // it is here already
      continue;
    }
    const std::int32_t p = event->key ? core::partition_for_key(*event->key, count)
                                      : core::partition_for_topic(event->topic, count);
    by_partition[static_cast<std::size_t>(p)].push_back(std::move(event));
  }
  // One batch per partition, split where it would pass max.message.bytes.
  const std::size_t limit = config->max_message_bytes - storage::kBatchHeaderBytes;
  std::vector<StreamService::AppendJob> jobs;
  std::vector<std::vector<core::EventPtr>> carried;
  for (std::size_t p = 0; p < by_partition.size(); ++p) {
    std::vector<storage::RecordSpec> records;
    std::vector<core::EventPtr> in_batch;
    std::size_t bytes = 0;
    bool durable = false;
    auto flush = [&] {
      if (records.empty()) return;
      jobs.push_back({partitions[p], storage::build_batch(records), durable});
      carried.push_back(std::move(in_batch));
      records.clear();
      in_batch.clear();
      bytes = 0;
      durable = false;
    };
    for (auto& event : by_partition[p]) {
      const std::size_t size = record_bytes(*event);
      if (!records.empty() && bytes + size > limit) flush();
      records.push_back(record_of(*event));
      bytes += size;
      durable = durable || event->receipt != nullptr;
      in_batch.push_back(std::move(event));
    }
    flush();
  }
  const std::vector<AppendResult> results = co_await streams_.append_all(std::move(jobs));
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i].error) {
      failed_.fetch_add(carried[i].size(), std::memory_order_relaxed);
      spdlog::warn("stream {}: {} attracted events not stored: {}", stream_, carried[i].size(),
                   results[i].error->message);
      answer(carried[i], "stream " + stream_ + ": " + results[i].error->message);
    } else {
      appended_.fetch_add(carried[i].size(), std::memory_order_relaxed);
      answer(carried[i], std::nullopt);
    }
  }
}

StreamAttraction::StreamAttraction(ShardPool& pool, StreamService& streams,
                                   SubscriptionService& subscriptions)
    : pool_(pool), streams_(streams), subscriptions_(subscriptions) {}

unsigned StreamAttraction::home_for(const std::string& stream) const {
  return static_cast<unsigned>(std::hash<std::string>{}(stream) % pool_.size());
}

void StreamAttraction::reconcile(const std::string& stream, std::function<void()> done) {
  std::vector<std::string> wanted;
  if (auto config = streams_.find(stream)) {
    if (auto routing = StreamRouting::of(*config)) {
      wanted = routing.value().attract;
    } else {
      spdlog::error("{}", routing.error().message);
    }
  }
  std::lock_guard lock(mutex_);
  Entry& entry = entries_[stream];
  std::vector<SubscriptionService::Change> changes;
  std::shared_ptr<StreamDestination> retired;
  if (!entry.destination && !wanted.empty()) {
    entry.destination =
        std::make_shared<StreamDestination>(pool_, streams_, stream, home_for(stream));
  }
  for (const auto& filter : entry.filters) {
    if (std::find(wanted.begin(), wanted.end(), filter) == wanted.end())
      changes.push_back({false, filter, entry.destination});
  }
  for (const auto& filter : wanted) {
    if (std::find(entry.filters.begin(), entry.filters.end(), filter) == entry.filters.end())
      changes.push_back({true, filter, entry.destination});
  }
  entry.filters = wanted;
  if (wanted.empty()) {
    retired = std::move(entry.destination);
    entries_.erase(stream);
  }
  if (changes.empty() && !retired) {
    done();
    return;
  }
  // Enqueued under the lock: the subscription service applies requests in
  // the order they come, so the router ends as the last decision says.
  auto finish = [this, retired, done = std::move(done)](std::vector<bool>) {
    if (retired) {
      // Out of the router everywhere: nothing new can reach it.
      asio::post(pool_.executor(retired->home_shard()), [retired] { retired->shut(); });
    }
    done();
  };
  subscriptions_.async_apply(std::move(changes), std::move(finish));
}

asio::awaitable<void> StreamAttraction::sync(std::string stream) {
  auto executor = co_await asio::this_coro::executor;
  auto latch =
      std::make_shared<asio::steady_timer>(executor, asio::steady_timer::time_point::max());
  auto done = [latch, executor] { asio::post(executor, [latch] { latch->cancel(); }); };
  reconcile(stream, std::move(done));
  co_await latch->async_wait(asio::as_tuple(asio::use_awaitable));
}

void StreamAttraction::sync_later(std::string stream) {
  reconcile(stream, [] {});
}

void StreamAttraction::start() {
  std::vector<std::future<void>> pending;
  for (const auto& config : streams_.list()) {
    auto promise = std::make_shared<std::promise<void>>();
    pending.push_back(promise->get_future());
    reconcile(config.name, [promise] { promise->set_value(); });
  }
  for (auto& p : pending) p.wait();
}

void StreamAttraction::stop() {
  std::lock_guard lock(mutex_);
  for (auto& [name, entry] : entries_) {
    auto destination = entry.destination;
    if (destination) {
      asio::post(pool_.executor(destination->home_shard()), [destination] { destination->shut(); });
    }
  }
}

std::vector<std::shared_ptr<StreamDestination>> StreamAttraction::destinations() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<StreamDestination>> out;
  for (const auto& [name, entry] : entries_) {
    if (entry.destination) out.push_back(entry.destination);
  }
  return out;
}

std::size_t StreamAttraction::filter_count(const std::string& stream) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(stream);
  return it == entries_.end() ? 0 : it->second.filters.size();
}

std::shared_ptr<StreamDestination> StreamAttraction::destination(const std::string& stream) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(stream);
  return it == entries_.end() ? nullptr : it->second.destination;
}

}  // namespace skein::runtime
