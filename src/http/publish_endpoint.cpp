// Ingress over HTTP: validate, build the event, hand it to the router.
#include "http/publish_endpoint.hpp"

#include <boost/beast/http/field.hpp>

#include "core/topic_names.hpp"
#include "http/json_error.hpp"
#include "http/json_text.hpp"

namespace skein::http {

namespace {
constexpr std::string_view kHeaderPrefix = "skein-header-";

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

core::Event event_from_request(const Request& request, std::string_view topic) {
  core::Event event;
  event.topic = std::string(topic);
  event.payload = request.body();
  if (auto it = request.find("Skein-Key"); it != request.end())
    event.key = std::string(it->value());
  if (auto it = request.find(bhttp::field::content_type); it != request.end())
    event.content_type = std::string(it->value());
  for (const auto& field : request) {
    std::string_view name = field.name_string();
    if (starts_with_ignoring_case(name, kHeaderPrefix) && name.size() > kHeaderPrefix.size()) {
      event.headers.push_back(
          core::Header{std::string(name.substr(kHeaderPrefix.size())), std::string(field.value())});
    }
  }
  return event;
}
}  // namespace

Response handle_publish(HttpContext& context, unsigned shard, const Request& request,
                        std::string_view topic) {
  if (auto error = core::check_topic(topic)) {
    return make_response(request, bhttp::status::bad_request,
                         json_name_error("invalid_topic", *error));
  }
  core::EventPtr event = context.router.stamp(event_from_request(request, topic));
  const std::size_t subscribers = context.router.publish(shard, event);
  std::string body = "{\"topic\":";
  append_json_string(body, event->topic);
  body += ",\"id\":\"" + std::to_string(event->origin.sequence) +
          "\",\"subscribers\":" + std::to_string(subscribers) + "}";
  return make_response(request, bhttp::status::accepted, std::move(body));
}

}  // namespace skein::http
