// The replay reader: start positions, slices of each partition in turn,
// records to events, and the waits (for appends, for a full queue to drain).
#include "http/stream_replay.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/subscription_index.hpp"
#include "runtime/record_events.hpp"
#include "runtime/stream_routing.hpp"
#include "runtime/stream_service.hpp"
#include "storage/file_io.hpp"

namespace skein::http {

namespace asio = boost::asio;

namespace {

// What one partition's turn reads at most.
constexpr std::size_t kSliceBytes = 256 * 1024;
// How long the reader waits for appends before looking whether the subscriber went.
constexpr auto kIdleCheck = std::chrono::seconds(1);
// How often it looks whether a full queue has drained.
constexpr auto kDrainPoll = std::chrono::milliseconds(5);

std::string cursor_text(const std::vector<std::int64_t>& next) {
  std::string text;
  for (std::size_t p = 0; p < next.size(); ++p) {
    if (p > 0) text += ',';
    text += std::to_string(p) + ':' + std::to_string(next[p]);
  }
  return text;
}

asio::awaitable<std::vector<std::int64_t>> start_positions(
    runtime::StreamService& streams, const std::vector<runtime::PartitionRef>& partitions,
    const ReplayRequest& request) {
  using From = ReplayRequest::From;
  std::vector<std::int64_t> next(partitions.size());
  for (std::size_t p = 0; p < partitions.size(); ++p) {
    const auto& part = partitions[p];
    std::int64_t at = part->log_end();
    switch (request.from) {
      case From::earliest:
        at = part->log_start();
        break;
      case From::latest:
        break;
      case From::offset:
        at = std::clamp(request.value, part->log_start(), part->log_end());
        break;
      case From::time: {
        const std::int64_t found = co_await streams.offset_for_time(part, request.value);
        at = found < 0 ? part->log_end() : found;
        break;
      }
      case From::cursor: {
        // A partition the id does not name (added since) starts at its beginning.
        auto it = request.cursor.find(static_cast<std::int32_t>(p));
        at = std::clamp(it == request.cursor.end() ? part->log_start() : it->second,
                        part->log_start(), part->log_end());
        break;
      }
    }
    next[p] = at;
  }
  co_return next;
}

// The bytes of a read's file range.
std::optional<std::vector<std::byte>> read_bytes(const storage::FileRange& range) {
  std::vector<std::byte> bytes(range.length);
  auto read = storage::read_at(range.fd(), bytes, range.position, "a segment");
  if (!read || read.value() != range.length) return std::nullopt;
  return bytes;
}

}  // namespace

asio::awaitable<std::vector<std::int64_t>> replay_start(HttpContext& context,
                                                        const ReplayRequest& request) {
  const auto partitions = context.streams->partitions(request.stream);
  if (partitions.empty()) co_return std::vector<std::int64_t>{};
  std::vector<std::int64_t> next = co_await start_positions(*context.streams, partitions, request);
  co_return next;
}

asio::awaitable<void> replay_stream(HttpContext& context,
                                    std::shared_ptr<StreamSubscriber> subscriber,
                                    ReplayRequest request, std::vector<std::int64_t> next) {
  runtime::StreamService& streams = *context.streams;
  const auto config = streams.find(request.stream);
  auto partitions = streams.partitions(request.stream);
  if (!config || partitions.empty() || next.empty()) {
    subscriber->finish("stream deleted");
    co_return;
  }
  // Partitions added since the start positions were taken begin at their start.
  for (std::size_t p = next.size(); p < partitions.size(); ++p) {
    next.push_back(partitions[p]->log_start());
  }
  partitions.resize(std::min(partitions.size(), next.size()));
  auto routing = runtime::StreamRouting::of(*config);
  const core::TopicTemplate topic_template =
      routing ? routing.value().effective_template(config->name)
              : runtime::StreamRouting{}.effective_template(config->name);
  core::SubscriptionIndex<int> wanted;
  for (const auto& filter : request.filters) wanted.insert(filter, 0);
  std::vector<int> matched;

  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer pause(executor);
  const std::size_t high_water = std::max<std::size_t>(subscriber->capacity() / 2, 1);

  while (!subscriber->closed() && !subscriber->finishing()) {
    bool progressed = false;
    for (std::size_t p = 0; p < partitions.size() && !subscriber->closed(); ++p) {
      while (subscriber->queued() >= high_water && !subscriber->closed()) {
        pause.expires_after(kDrainPoll);
        co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      runtime::ReadResult read = co_await streams.read(partitions[p], next[p], kSliceBytes);
      if (read.error) {
        if (read.error->code == storage::Errc::out_of_range && next[p] < read.log_start) {
          next[p] = read.log_start;  // retention removed what was next: go on from the start
          progressed = true;
          continue;
        }
        spdlog::warn("replay of {} partition {}: {}", request.stream, p, read.error->message);
        subscriber->finish("stream unreadable");
        co_return;
      }
      if (!read.range) continue;
      auto bytes = read_bytes(*read.range);
      std::vector<runtime::RecordEvent> events;
      std::string why;
      if (!bytes || !runtime::events_of_batches(*bytes, config->name, topic_template,
                                                static_cast<std::int32_t>(p), next[p],
                                                64 * config->max_message_bytes, events, &why)) {
        spdlog::warn("replay of {} partition {}: cannot read at offset {}: {}", request.stream, p,
                     next[p], bytes ? why : "short read");
        subscriber->finish("stream unreadable");
        co_return;
      }
      // Past the slice, even when its records were all control or filtered out.
      std::int64_t after = next[p];
      {
        std::span<const std::byte> rest = *bytes;
        while (!rest.empty()) {
          const auto check = storage::check_batch(rest, rest.size(), false);
          if (!check.header) break;
          after = std::max(after, check.header->last_offset() + 1);
          rest = rest.subspan(check.header->total_bytes());
        }
      }
      for (auto& item : events) {
        next[p] = item.offset + 1;
        if (!item.event) continue;
        if (!request.filters.empty()) {
          matched.clear();
          wanted.match(item.event->topic, matched);
          if (matched.empty()) continue;
        }
        // Never more than the queue holds: a replay must not look like a slow subscriber.
        while (subscriber->queued() >= subscriber->capacity() && !subscriber->closed()) {
          pause.expires_after(kDrainPoll);
          co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
        }
        if (subscriber->closed()) co_return;
        core::Event& event = *item.event;
        event.origin.node = context.router.node_name();
        event.position = core::StreamPosition{config->name, static_cast<std::int32_t>(p),
                                              item.offset, cursor_text(next)};
        subscriber->offer(std::make_shared<const core::Event>(std::move(event)));
      }
      next[p] = std::max(next[p], after);
      progressed = true;
    }
    if (progressed || subscriber->closed()) continue;
    // Every partition is at its end: wait for the next append (the live part).
    std::vector<std::pair<runtime::PartitionRef, std::int64_t>> watch;
    for (std::size_t p = 0; p < partitions.size(); ++p) watch.emplace_back(partitions[p], next[p]);
    co_await streams.wait_for_data(std::move(watch), std::chrono::steady_clock::now() + kIdleCheck);
    // Partitions added meanwhile are followed from their start.
    auto now = streams.partitions(request.stream);
    if (now.empty()) {
      subscriber->finish("stream deleted");
      co_return;
    }
    for (std::size_t p = partitions.size(); p < now.size(); ++p)
      next.push_back(now[p]->log_start());
    partitions = std::move(now);
  }
}

}  // namespace skein::http
