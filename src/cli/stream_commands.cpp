// The stream verbs: options to a JSON body, the node's answer to stdout.
#include "cli/stream_commands.hpp"

#include <boost/beast/http/verb.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/http_client.hpp"

namespace skein::cli {

namespace bhttp = boost::beast::http;
using json = nlohmann::json;

namespace {

json settings_body(const StreamOptions& options) {
  json body = json::object();
  if (options.partitions) body["partitions"] = *options.partitions;
  if (options.no_attract) {
    body["attract"] = json::array();
  } else if (!options.attract.empty()) {
    body["attract"] = options.attract;
  }
  if (options.topic_template) body["topic_template"] = *options.topic_template;
  if (options.retention_ms) body["retention_ms"] = *options.retention_ms;
  if (options.retention_bytes) body["retention_bytes"] = *options.retention_bytes;
  if (options.cleanup_policy) body["cleanup_policy"] = *options.cleanup_policy;
  if (options.fsync) body["fsync"] = *options.fsync;
  return body;
}

// Sends the request; prints the JSON answer (pretty) or the error. The exit code.
int call(const StreamOptions& options, bhttp::verb method, const std::string& path,
         const std::string& verb, const std::optional<json>& body, bool print = true,
         json* answer = nullptr) {
  auto target = parse_url(options.url);
  if (!target) return 2;
  auto request = make_request(*target, method, path);
  if (body) {
    request.set(bhttp::field::content_type, "application/json");
    request.body() = body->dump();
  }
  auto response = exchange(*target, std::move(request), verb);
  if (!response) return 1;
  if (response->result_int() / 100 != 2) {
    std::fprintf(stderr, "skein %s: %u %s\n", verb.c_str(), response->result_int(),
                 error_text(response->body()).c_str());
    return 1;
  }
  if (response->body().empty()) return 0;
  auto parsed = json::parse(response->body(), nullptr, false);
  if (answer != nullptr) *answer = parsed;
  if (print) std::cout << (parsed.is_discarded() ? response->body() : parsed.dump(2)) << '\n';
  return 0;
}

std::string stream_path(const std::string& name) {
  return "/v1/streams/" + name;
}

}  // namespace

int run_stream_create(const StreamOptions& options) {
  json body = settings_body(options);
  body["name"] = options.name;
  return call(options, bhttp::verb::post, "/v1/streams", "stream create", body);
}

int run_stream_update(const StreamOptions& options) {
  const json body = settings_body(options);
  if (body.empty()) {
    std::fprintf(stderr, "skein stream update: give at least one setting to change\n");
    return 2;
  }
  return call(options, bhttp::verb::patch, stream_path(options.name), "stream update", body);
}

int run_stream_list(const StreamOptions& options) {
  json answer;
  const int code = call(options, bhttp::verb::get, "/v1/streams", "stream list", std::nullopt,
                        options.json, &answer);
  if (code != 0 || options.json) return code;
  std::printf("%-32s %10s %14s  %s\n", "NAME", "PARTITIONS", "RECORDS", "ATTRACT");
  for (const auto& stream : answer.value("streams", json::array())) {
    std::int64_t records = 0;
    for (const auto& p : stream.value("partition_state", json::array())) {
      records += p.value("end_offset", std::int64_t{0}) - p.value("start_offset", std::int64_t{0});
    }
    std::string attract;
    for (const auto& filter : stream.value("attract", json::array())) {
      attract += (attract.empty() ? "" : " ") + filter.get<std::string>();
    }
    std::printf("%-32s %10d %14lld  %s\n", stream.value("name", "").c_str(),
                stream.value("partitions", 0), static_cast<long long>(records), attract.c_str());
  }
  return 0;
}

int run_stream_describe(const StreamOptions& options) {
  return call(options, bhttp::verb::get, stream_path(options.name), "stream describe",
              std::nullopt);
}

int run_stream_delete(const StreamOptions& options) {
  return call(options, bhttp::verb::delete_, stream_path(options.name), "stream delete",
              std::nullopt);
}

}  // namespace skein::cli
