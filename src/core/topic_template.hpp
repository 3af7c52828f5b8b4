// A stream's topic template (DESIGN.md §1, "Ingress, once"): the topic under
// which a Kafka record produced to a stream is published to subscribers when the
// record has no `skein-topic` header. The default template is the stream's name.
//
// The text is a topic with placeholders:
//   {key}           the record's key (which may contain '/', spanning levels)
//   {partition}     the record's partition number, in decimal
//   {header:NAME}   the value of the record's first header named NAME
//                   (NAME: one or more characters, any but '}')
//   orders/{header:region}/{key}    telemetry/p{partition}    {key}
// There is no escape: any other {...}, and a '{' or '}' outside a placeholder,
// is an error. Placeholders may share a level with text and with each other.
//
// parse() accepts a template when substituting "x" for {key} and every header
// and "0" for {partition} gives a valid client topic (check_topic): so literal
// text has no wildcard, empty level or bad UTF-8, and the template does not
// start with the reserved '$'. A record can still render no topic (null key,
// absent header, a value that makes an empty level or a '$' start); the caller
// then publishes nothing for it, or falls back as it sees fit.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace skein::core {

class TopicTemplate {
 public:
  // The template in `text`, or nullopt with `*error` (when not null) set to a
  // message that names the rule broken and the byte where it broke:
  //   unclosed '{' at byte 3 (...)       unmatched '}' at byte 5 (...)
  //   unknown placeholder {foo} at byte 7 (...)
  //   empty header name in {header:} at byte 0 (...)
  //   invalid UTF-8 in header name {header:a\xFF} at byte 9 (...)
  //   the template renders no valid topic (...): <check_topic's message>
  static std::optional<TopicTemplate> parse(std::string_view text, std::string* error);

  // The text parsed: well-formed UTF-8.
  const std::string& text() const { return text_; }
  // No placeholder: every record renders text().
  bool constant() const { return !uses_key_ && !uses_partition_ && !uses_headers_; }
  bool uses_key() const { return uses_key_; }
  bool uses_partition() const { return uses_partition_; }
  bool uses_headers() const { return uses_headers_; }

  // The value of a record's header named `name` for render(): the first such
  // header's value (see first_header), nullopt when there is none.
  using HeaderLookup = std::function<std::optional<std::string_view>(std::string_view name)>;

  // The topic for one record, or nullopt when a placeholder has no value (null
  // key, header absent or `headers` empty) or the result is not a valid client
  // topic: a value made an empty level ("a/{key}" with key "" or "b/"), a
  // wildcard, bad UTF-8, more than kMaxNameBytes bytes, or a leading '$'.
  // Values are inserted as they are: a key "eu/1" renders two levels.
  std::optional<std::string> render(std::optional<std::string_view> key, std::int32_t partition,
                                    const HeaderLookup& headers = {}) const;

  // A filter (valid per check_filter) that matches every topic render() can
  // produce: literal levels stay, a level holding {partition} becomes '*', and
  // from the first level holding {key} or a header (whose values may hold '/')
  // the rest becomes '>'. Constant templates give their text.
  //   orders/{header:region}/x -> orders/>     p/{partition}/{key} -> p/*/>
  // Used to ask whether any subscriber could want a stream's records.
  const std::string& coverage_filter() const { return coverage_; }

 private:
  enum class Kind : std::uint8_t { literal, key, partition, header };
  struct Piece {
    Kind kind;
    std::string text;  // the literal text, or the header name
  };

  TopicTemplate() = default;

  std::string text_;
  std::vector<Piece> pieces_;  // adjacent literals merged
  std::string coverage_;
  bool uses_key_ = false;
  bool uses_partition_ = false;
  bool uses_headers_ = false;
};

// The value of the first of `headers` named `name`, nullopt when none is: the
// usual HeaderLookup. `headers` is any range of two-member (name, value)
// elements convertible to string_view, such as pair<string_view, string_view>
// or core::Header. Kafka allows several headers with one name; the first wins.
template <class Headers>
std::optional<std::string_view> first_header(const Headers& headers, std::string_view name) {
  for (const auto& [header_name, value] : headers) {
    if (std::string_view(header_name) == name) return std::string_view(value);
  }
  return std::nullopt;
}

}  // namespace skein::core
