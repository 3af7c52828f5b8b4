// Replay (GET /v1/subscribe?stream=S&from=...): feeds a subscriber from a
// stream's stored records instead of the router. It reads each partition
// from its start position (earliest, latest, an offset, a time, or an event
// id's cursor), turns the records into events as the Kafka face publishes
// them (runtime/record_events.hpp), keeps those matching the filters, and
// offers them to the subscriber, whose SSE or WebSocket writer sends them as
// it sends live events. At the end of every partition it waits for appends
// and goes on: the live part is the same log read further, so there is no
// hand-over where an event could be lost or sent twice.
//
// Partitions are read in turns, a bounded slice each, so one busy partition
// does not hold back the others; order is kept within each partition. The
// subscriber's queue is never overfilled: the reader waits while it is more
// than half full. Each event's id is the stream position after it (every
// partition's next offset), so a client that reconnects with from=<id>, or
// SSE's Last-Event-ID, resumes exactly after the last event it received.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <memory>
#include <vector>

#include "http/http_context.hpp"
#include "http/stream_subscriber.hpp"
#include "http/subscribe_request.hpp"

namespace skein::http {

// Each partition's start offset for the request, taken before the client
// is answered, so that with from=latest nothing appended after the answer
// is missed. Empty when the stream is gone.
boost::asio::awaitable<std::vector<std::int64_t>> replay_start(HttpContext& context,
                                                               const ReplayRequest& request);

// Runs on the subscriber's shard until the subscriber closes, from `next`.
boost::asio::awaitable<void> replay_stream(HttpContext& context,
                                           std::shared_ptr<StreamSubscriber> subscriber,
                                           ReplayRequest request, std::vector<std::int64_t> next);

}  // namespace skein::http
