// Ingress over HTTP: validate, build the event, hand it to the router.
#include "http/publish_endpoint.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>

#include "core/topic_names.hpp"
#include "http/json_error.hpp"
#include "http/json_text.hpp"

namespace skein::http {

namespace asio = boost::asio;

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

bool wants_persistent(const Request& request, const RequestTarget& target) {
  auto yes = [](std::string_view v) { return v == "true" || v == "1" || v == "yes"; };
  if (auto value = target.last("persistent"); value && yes(*value)) return true;
  auto it = request.find("Skein-Persistent");
  return it != request.end() && yes(std::string_view(it->value()));
}

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

namespace {

// What a persistent publish waits for: the receipt's answer, posted to the
// publisher's shard, or the timeout.
struct PersistWait {
  explicit PersistWait(asio::any_io_executor executor)
      : timer(executor, asio::steady_timer::time_point::max()) {}
  asio::steady_timer timer;
  bool answered = false;
  std::optional<std::string> failure;
  std::size_t stored = 0;
};

Response not_stored(const Request& request, const std::string& why) {
  return make_response(request, bhttp::status::service_unavailable, json_error("not_stored", why));
}

}  // namespace

asio::awaitable<Response> handle_persistent_publish(HttpContext& context, unsigned shard,
                                                    const Request& request,
                                                    std::string_view topic) {
  if (auto error = core::check_topic(topic)) {
    co_return make_response(request, bhttp::status::bad_request,
                            json_name_error("invalid_topic", *error));
  }
  auto executor = co_await asio::this_coro::executor;
  auto wait = std::make_shared<PersistWait>(executor);
  auto completion = [wait, executor](std::optional<std::string> failure, std::size_t stored) {
    asio::post(executor, [wait, failure = std::move(failure), stored]() mutable {
      wait->answered = true;
      wait->failure = std::move(failure);
      wait->stored = stored;
      wait->timer.cancel();
    });
  };
  core::Event event = event_from_request(request, topic);
  event.delivery = core::DeliveryClass::persistent;
  event.receipt = std::make_shared<core::Receipt>(std::move(completion));
  core::EventPtr stamped = context.router.stamp(std::move(event));
  const std::size_t subscribers = context.router.publish(shard, stamped);
  stamped->receipt->stored(false);  // the publisher's own expectation
  wait->timer.expires_after(context.settings.persistent_timeout);
  co_await wait->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!wait->answered) {
    co_return not_stored(
        request,
        "not stored within " + std::to_string(context.settings.persistent_timeout.count()) + " ms");
  }
  if (wait->failure) co_return not_stored(request, *wait->failure);
  if (wait->stored == 0) {
    co_return not_stored(request, "no stream attracts topic " + stamped->topic);
  }
  std::string body = "{\"topic\":";
  append_json_string(body, stamped->topic);
  body += ",\"id\":\"" + std::to_string(stamped->origin.sequence) +
          "\",\"subscribers\":" + std::to_string(subscribers) +
          ",\"stored\":" + std::to_string(wait->stored) + "}";
  co_return make_response(request, bhttp::status::created, std::move(body));
}

}  // namespace skein::http
