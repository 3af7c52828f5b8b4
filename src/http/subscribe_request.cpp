// Validation of subscribe parameters; every refusal names what is wrong.
#include "http/subscribe_request.hpp"

#include <charconv>

#include "http/json_error.hpp"

namespace skein::http {

namespace {

std::optional<std::int64_t> parse_number(std::string_view text) {
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return n;
}

// Digits at text[at, at + n), as a number; -1 when they are not all digits.
int digits(std::string_view text, std::size_t at, std::size_t n) {
  if (at + n > text.size()) return -1;
  int v = 0;
  for (std::size_t i = at; i < at + n; ++i) {
    if (text[i] < '0' || text[i] > '9') return -1;
    v = v * 10 + (text[i] - '0');
  }
  return v;
}

// Days since 1970-01-01 of a civil date (proleptic Gregorian).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::optional<ReplayRequest> parse_from(std::string_view from, ReplayRequest replay,
                                        std::string& why) {
  using From = ReplayRequest::From;
  if (from == "earliest") {
    replay.from = From::earliest;
  } else if (from == "latest") {
    replay.from = From::latest;
  } else if (from.starts_with("offset:")) {
    auto n = parse_number(from.substr(7));
    if (!n || *n < 0) {
      why = "from=offset:N needs a whole number N >= 0";
      return std::nullopt;
    }
    replay.from = From::offset;
    replay.value = *n;
  } else if (from.starts_with("time:")) {
    auto ms = parse_rfc3339(from.substr(5));
    if (!ms) {
      why = "from=time: needs an RFC 3339 date-time, e.g. 2026-11-23T10:00:00Z";
      return std::nullopt;
    }
    replay.from = From::time;
    replay.value = *ms;
  } else if (auto cursor = parse_cursor(from)) {
    replay.from = From::cursor;
    replay.cursor = std::move(*cursor);
  } else {
    why = "from must be earliest, latest, offset:N, time:RFC3339 or an event id (P:O,...)";
    return std::nullopt;
  }
  return replay;
}

}  // namespace

std::optional<std::int64_t> parse_rfc3339(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)
  const int year = digits(t, 0, 4), month = digits(t, 5, 2), day = digits(t, 8, 2);
  const int hour = digits(t, 11, 2), minute = digits(t, 14, 2), second = digits(t, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > 31 || hour < 0 || hour > 23 ||
      minute < 0 || minute > 59 || second < 0 || second > 60 || t[4] != '-' || t[7] != '-' ||
      (t[10] != 'T' && t[10] != 't' && t[10] != ' ') || t[13] != ':' || t[16] != ':') {
    return std::nullopt;
  }
  // Days the month has (RFC 3339 §5.7: 2026-02-30 is not a date).
  static constexpr int kMonthDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > kMonthDays[month - 1] || (month == 2 && day == 29 && !leap)) return std::nullopt;
  std::size_t at = 19;
  std::int64_t millis = 0;
  if (at < t.size() && t[at] == '.') {
    ++at;
    std::int64_t scale = 100;
    const std::size_t first = at;
    while (at < t.size() && t[at] >= '0' && t[at] <= '9') {
      millis += (t[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == first) return std::nullopt;
  }
  std::int64_t offset_minutes = 0;
  if (at < t.size() && (t[at] == 'Z' || t[at] == 'z')) {
    ++at;
  } else if (at < t.size() && (t[at] == '+' || t[at] == '-')) {
    const int oh = digits(t, at + 1, 2), om = digits(t, at + 4, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59 || at + 3 >= t.size() || t[at + 3] != ':') {
      return std::nullopt;
    }
    offset_minutes = (t[at] == '+' ? 1 : -1) * (oh * 60 + om);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != t.size()) return std::nullopt;
  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  const std::int64_t seconds =
      days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  return seconds * 1000 + millis;
}

std::optional<std::map<std::int32_t, std::int64_t>> parse_cursor(std::string_view text) {
  std::map<std::int32_t, std::int64_t> cursor;
  if (text.empty() || text.size() > 64 * 1024) return std::nullopt;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const auto colon = item.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    auto partition = parse_number(item.substr(0, colon));
    auto offset = parse_number(item.substr(colon + 1));
    if (!partition || !offset || *partition < 0 || *partition > INT32_MAX || *offset < 0) {
      return std::nullopt;
    }
    if (!cursor.emplace(static_cast<std::int32_t>(*partition), *offset).second) {
      return std::nullopt;
    }
    if (comma == std::string_view::npos) break;
    text.remove_prefix(comma + 1);
    if (text.empty()) return std::nullopt;
  }
  return cursor;
}

SubscribeParse parse_subscribe_request(const RequestTarget& target, const HttpSettings& settings,
                                       std::optional<std::string_view> last_event_id) {
  SubscribeParse result;
  SubscribeRequest request;
  request.slow_policy = settings.slow_policy;
  request.queue = settings.subscriber_queue;
  request.filters = target.all("filter");
  if (auto stream = target.last("stream")) {
    ReplayRequest replay;
    replay.stream = *stream;
    replay.filters = std::move(request.filters);
    request.filters.clear();
    for (const auto& filter : replay.filters) {
      if (auto error = core::check_filter(filter)) {
        result.error_body = json_name_error("invalid_filter", *error);
        return result;
      }
    }
    std::string from = target.last("from").value_or("");
    if (from.empty() && last_event_id) from = std::string(*last_event_id);
    if (from.empty()) from = "latest";
    std::string why;
    auto parsed = parse_from(from, std::move(replay), why);
    if (!parsed) {
      result.error_body = json_error("invalid_parameter", why);
      return result;
    }
    request.replay = std::move(parsed);
  } else if (request.filters.empty()) {
    result.error_body = json_error("missing_filter", "give at least one filter=F parameter");
    return result;
  }
  for (const auto& filter : request.filters) {
    if (auto error = core::check_filter(filter)) {
      result.error_body = json_name_error("invalid_filter", *error);
      return result;
    }
  }
  if (auto slow = target.last("slow")) {
    if (!core::parse_slow_policy(*slow, request.slow_policy)) {
      result.error_body =
          json_error("invalid_parameter", "slow must be \"disconnect\" or \"drop-oldest\"");
      return result;
    }
  }
  if (auto queue = target.last("queue")) {
    std::size_t n = 0;
    auto [end, ec] = std::from_chars(queue->data(), queue->data() + queue->size(), n);
    if (ec != std::errc() || end != queue->data() + queue->size() || n == 0 ||
        n > settings.subscriber_queue) {
      result.error_body =
          json_error("invalid_parameter", "queue must be a whole number from 1 to " +
                                              std::to_string(settings.subscriber_queue));
      return result;
    }
    request.queue = n;
  }
  result.request = std::move(request);
  return result;
}

}  // namespace skein::http
