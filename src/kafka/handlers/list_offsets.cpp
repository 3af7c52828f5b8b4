// ListOffsets: -2 the log start (earliest), -1 the log end (latest), any
// other timestamp the first record stamped at or after it (the time index
// finds the batch, the batch is read for the record), as Kafka answers.
// Version 0 answers with a list
// of offsets (old-style): the one offset found, or for a time with no record
// that recent the log end, where a consumer starting then would begin.
#include "kafka/handlers.hpp"
#include "kafka/protocol/error_codes.hpp"

namespace skein::kafka {

namespace {
constexpr std::int64_t kLatest = -1, kEarliest = -2;
}

awaitable<m::ListOffsetsResponse> handle_list_offsets(KafkaContext& context, Session&,
                                                      const m::ListOffsetsRequest& request,
                                                      std::int16_t version) {
  // Leader epochs exist in the answer from v4 on.
  const std::int32_t epoch = version >= 4 ? 0 : -1;
  using Response = m::ListOffsetsResponse;
  Response response;
  for (const auto& topic : request.topics) {
    Response::ListOffsetsTopicResponse t;
    t.name = topic.name;
    for (const auto& part : topic.partitions) {
      Response::ListOffsetsPartitionResponse p;
      p.partition_index = part.partition_index;
      auto log = context.streams.partition(topic.name, part.partition_index);
      if (!log) {
        p.error_code = code(ErrorCode::unknown_topic_or_partition);
      } else if (part.timestamp == kLatest) {
        p.offset = log->log_end();
        p.leader_epoch = epoch;
      } else if (part.timestamp == kEarliest) {
        p.offset = log->log_start();
        p.leader_epoch = epoch;
      } else if (part.timestamp < 0) {
        // -3 (the record with the largest timestamp) and others: not served.
        p.error_code = code(ErrorCode::unsupported_version);
      } else {
        const std::int64_t offset = co_await context.streams.offset_for_time(log, part.timestamp);
        p.offset = offset;  // -1 when no record is that recent, as Kafka answers
        p.timestamp = offset < 0 ? -1 : part.timestamp;
        p.leader_epoch = offset < 0 ? -1 : epoch;
      }
      if (version == 0) {
        if (p.error_code == 0 && part.max_num_offsets > 0) {
          p.old_style_offsets.push_back(p.offset >= 0 ? p.offset : log->log_end());
        }
        p.offset = -1;
        p.timestamp = -1;
        p.leader_epoch = -1;
      }
      t.partitions.push_back(p);
    }
    response.topics.push_back(std::move(t));
  }
  co_return response;
}

}  // namespace skein::kafka
