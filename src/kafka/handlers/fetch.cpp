// Fetch: record batches served as file ranges of the segments (sendfile),
// at least one batch per partition asked whatever the byte limits (so a
// consumer always progresses), up to partition_max_bytes per partition and
// max_bytes in all. When fewer than min_bytes are ready, the request waits
// until more are appended to any of its partitions or max_wait_ms passes
// (a long poll). Fetch sessions are answered with session id 0, which tells
// clients to send full requests. Isolation is read_uncommitted: the high
// watermark is the log end (transactions come later).
#include <boost/asio/this_coro.hpp>

#include "kafka/handlers.hpp"
#include "kafka/protocol/error_codes.hpp"

namespace skein::kafka {

namespace {

using Response = m::FetchResponse;

struct Wanted {
  std::size_t topic, partition;  // where the answer goes
  runtime::PartitionRef log;     // null: unknown
  std::int64_t offset;
  std::size_t max_bytes;
};

}  // namespace

awaitable<m::FetchResponse> handle_fetch(KafkaContext& context, Session&,
                                         const m::FetchRequest& request) {
  Response response;
  std::vector<Wanted> wanted;
  for (const auto& topic : request.topics) {
    Response::FetchableTopicResponse t;
    t.topic = topic.topic;
    for (const auto& part : topic.partitions) {
      Response::PartitionData p;
      p.partition_index = part.partition;
      p.aborted_transactions = std::nullopt;
      auto log = context.streams.partition(topic.topic, part.partition);
      if (!log) p.error_code = code(ErrorCode::unknown_topic_or_partition);
      wanted.push_back({response.responses.size(), t.partitions.size(), log, part.fetch_offset,
                        static_cast<std::size_t>(std::max(part.partition_max_bytes, 0))});
      t.partitions.push_back(std::move(p));
    }
    response.responses.push_back(std::move(t));
  }

  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(std::max(request.max_wait_ms, 0));
  const std::size_t total_limit = static_cast<std::size_t>(std::max(request.max_bytes, 0));
  for (;;) {
    std::size_t total = 0;
    std::vector<std::pair<runtime::PartitionRef, std::int64_t>> watch;
    for (const Wanted& w : wanted) {
      if (!w.log) continue;
      Response::PartitionData& p = response.responses[w.topic].partitions[w.partition];
      // Once the total budget is spent, later partitions get nothing this time;
      // the first batch of the first partition always goes (KIP-74).
      const std::size_t budget =
          total >= total_limit && total > 0
              ? 0
              : std::min(w.max_bytes, total_limit - std::min(total, total_limit));
      runtime::ReadResult read;
      if (budget > 0 || total == 0) {
        read = co_await context.streams.read(w.log, w.offset, std::max<std::size_t>(budget, 1));
      } else {
        read.log_start = w.log->log_start();
        read.log_end = w.log->log_end();
      }
      p.high_watermark = read.log_end;
      p.last_stable_offset = read.log_end;
      p.log_start_offset = read.log_start;
      // No records is an empty set, not null: clients refuse a null one.
      p.records = Records::owned({});
      if (read.error) {
        p.error_code = read.error->code == storage::Errc::out_of_range
                           ? code(ErrorCode::offset_out_of_range)
                           : code(ErrorCode::kafka_storage_error);
        continue;
      }
      p.error_code = 0;
      if (read.range) {
        total += read.range->length;
        p.records = Records::files({*read.range});
      } else {
        watch.emplace_back(w.log, w.offset);
      }
    }
    const bool enough = total >= static_cast<std::size_t>(std::max(request.min_bytes, 0));
    if (enough || watch.empty() || std::chrono::steady_clock::now() >= deadline) break;
    // Then read again: once more after the deadline, as what arrived just
    // before it is worth sending.
    co_await context.streams.wait_for_data(std::move(watch), deadline);
  }
  co_return response;
}

}  // namespace skein::kafka
