// Metrics rendering: one HELP/TYPE block per family, per-shard samples where
// the figure is kept per shard.
#include "http/metrics_endpoint.hpp"

#include <fmt/format.h>

#include "runtime/prometheus_text.hpp"
#include "runtime/stream_attraction.hpp"

namespace skein::http {

namespace {
using runtime::metric_family;
using runtime::metric_sample;

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  metric_family(out, name, type, help);
}

template <class Value>
void sample(std::string& out, std::string_view name, std::string_view labels, Value value) {
  metric_sample(out, name, labels, value);
}

using CounterField = std::atomic<std::uint64_t> core::RouterCounters::*;

void per_shard_counter(std::string& out, HttpContext& context, std::string_view name,
                       std::string_view help, CounterField field) {
  family(out, name, "counter", help);
  for (unsigned shard = 0; shard < context.router.shard_count(); ++shard) {
    const auto& counters = context.router.counters(shard);
    sample(out, name, fmt::format("shard=\"{}\"", shard),
           (counters.*field).load(std::memory_order_relaxed));
  }
}
}  // namespace

std::string render_metrics(HttpContext& context) {
  std::string out;
  per_shard_counter(out, context, "skein_events_published_total",
                    "Events published into the router on this node.",
                    &core::RouterCounters::published);
  per_shard_counter(out, context, "skein_events_unmatched_total",
                    "Published events that matched no subscription.",
                    &core::RouterCounters::unmatched);
  per_shard_counter(out, context, "skein_events_delivered_total",
                    "Events queued to a destination (one per destination).",
                    &core::RouterCounters::delivered);
  per_shard_counter(out, context, "skein_events_dropped_total",
                    "Events dropped from a full queue by the drop-oldest policy.",
                    &core::RouterCounters::dropped_oldest);
  per_shard_counter(out, context, "skein_slow_subscribers_disconnected_total",
                    "Subscribers closed because their queue was full (disconnect policy).",
                    &core::RouterCounters::overflowed);

  if (context.attraction != nullptr) {
    const auto streams = context.attraction->destinations();
    family(out, "skein_stream_attracted_events_total", "counter",
           "Events a stream attracted and appended.");
    for (const auto& d : streams) {
      sample(out, "skein_stream_attracted_events_total", fmt::format("stream=\"{}\"", d->stream()),
             d->appended());
    }
    family(out, "skein_stream_attract_failures_total", "counter",
           "Events a stream attracted but could not append (their receipts failed).");
    for (const auto& d : streams) {
      sample(out, "skein_stream_attract_failures_total", fmt::format("stream=\"{}\"", d->stream()),
             d->failed());
    }
  }

  family(out, "skein_subscriptions", "gauge", "Filter subscriptions in effect on this node.");
  sample(out, "skein_subscriptions", "", context.subscriptions.count());
  family(out, "skein_http_subscribers", "gauge", "Open SSE and WebSocket subscribers.");
  sample(out, "skein_http_subscribers", "",
         context.counters.subscribers_open.load(std::memory_order_relaxed));
  family(out, "skein_http_connections", "gauge", "Open HTTP connections.");
  sample(out, "skein_http_connections", "",
         context.counters.connections_open.load(std::memory_order_relaxed));
  family(out, "skein_http_connections_total", "counter", "HTTP connections accepted.");
  sample(out, "skein_http_connections_total", "",
         context.counters.connections_total.load(std::memory_order_relaxed));
  family(out, "skein_http_responses_total", "counter", "HTTP responses by status class.");
  for (unsigned cls = 1; cls < 6; ++cls) {
    sample(out, "skein_http_responses_total", fmt::format("code=\"{}xx\"", cls),
           context.counters.responses[cls].load(std::memory_order_relaxed));
  }

  family(out, "skein_shard_loop_lag_seconds", "gauge",
         "How late the shard's event loop ran its last probe timer.");
  for (unsigned shard = 0; shard < context.pool.size(); ++shard) {
    sample(out, "skein_shard_loop_lag_seconds", fmt::format("shard=\"{}\"", shard),
           static_cast<double>(context.loop_lag.last_lag(shard).count()) / 1e6);
  }
  family(out, "skein_shards", "gauge", "Shards (event-loop threads) of this node.");
  sample(out, "skein_shards", "", context.pool.size());
  for (const auto& source : context.metric_sources) source(out);
  return out;
}

Response handle_metrics(HttpContext& context, const Request& request) {
  return make_response(request, bhttp::status::ok, render_metrics(context),
                       "text/plain; version=0.0.4; charset=utf-8");
}

Response handle_healthz(const Request& request) {
  return make_response(request, bhttp::status::ok, "{\"status\":\"ok\"}");
}

Response handle_readyz(HttpContext& context, const Request& request) {
  if (context.ready.load(std::memory_order_relaxed) &&
      !context.draining.load(std::memory_order_relaxed)) {
    return make_response(request, bhttp::status::ok, "{\"status\":\"ready\"}");
  }
  return make_response(request, bhttp::status::service_unavailable, "{\"status\":\"not ready\"}");
}

}  // namespace skein::http
