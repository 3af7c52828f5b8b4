// GET /metrics in the Prometheus text exposition format (version 0.0.4), and
// the probes GET /healthz (the process serves) and GET /readyz (listening and
// not draining).
#pragma once

#include <string>

#include "http/http_context.hpp"
#include "http/http_types.hpp"

namespace skein::http {

std::string render_metrics(HttpContext& context);

Response handle_metrics(HttpContext& context, const Request& request);
Response handle_healthz(const Request& request);
Response handle_readyz(HttpContext& context, const Request& request);

}  // namespace skein::http
