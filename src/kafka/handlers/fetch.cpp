// Fetch: record batches served as file ranges of the segments (sendfile),
// at least one batch per partition asked whatever the byte limits (so a
// consumer always progresses), up to partition_max_bytes per partition and
// max_bytes in all. When fewer than min_bytes are ready, the request waits
// until more are appended to any of its partitions or max_wait_ms passes
// (a long poll). Fetch sessions are answered with session id 0, which tells
// clients to send full requests. Isolation is read_uncommitted: the high
// watermark is the log end (transactions come later). Versions 0-3 predate
// the v2 batch: their answers are message sets converted in memory (magic 0
// up to v1, magic 1 from v2), which costs a read and a copy that newer
// clients are spared.
#include <boost/asio/this_coro.hpp>

#include "kafka/handlers.hpp"
#include "kafka/protocol/error_codes.hpp"
#include "kafka/protocol/message_set.hpp"
#include "storage/file_io.hpp"

namespace skein::kafka {

namespace {

using Response = m::FetchResponse;

struct Wanted {
  std::size_t topic, partition;  // where the answer goes
  runtime::PartitionRef log;     // null: unknown
  std::int64_t offset;
  std::size_t max_bytes;
};

// Replaces the file ranges of `p` by the same records as a message set of
// `magic`, leaving out those before `from_offset`.
void convert_to_message_set(Response::PartitionData& p, std::int8_t magic,
                            std::int64_t from_offset) {
  if (!p.records.in_files()) return;
  std::vector<std::byte> batches;
  for (const storage::FileRange& range : p.records.file_ranges()) {
    const std::size_t at = batches.size();
    batches.resize(at + range.length);
    auto read =
        storage::read_at(range.fd(), std::span(batches).subspan(at), range.position, "a segment");
    if (!read || read.value() != range.length) {
      p.error_code = code(ErrorCode::kafka_storage_error);
      p.records = Records::owned({});
      return;
    }
  }
  auto converted = batches_to_message_set(batches, magic, from_offset, MessageSetLimits{});
  if (auto* set = std::get_if<std::vector<std::byte>>(&converted)) {
    p.records = Records::owned(std::move(*set));
  } else {
    p.error_code = code(ErrorCode::corrupt_message);
    p.records = Records::owned({});
  }
}

}  // namespace

awaitable<m::FetchResponse> handle_fetch(KafkaContext& context, Session&,
                                         const m::FetchRequest& request, std::int16_t version) {
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
  if (version < 4) {
    const std::int8_t magic = version < 2 ? 0 : 1;
    for (const Wanted& w : wanted) {
      convert_to_message_set(response.responses[w.topic].partitions[w.partition], magic, w.offset);
    }
  }
  co_return response;
}

}  // namespace skein::kafka
