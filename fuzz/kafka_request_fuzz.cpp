// libFuzzer target for Kafka requests (kafka/protocol): the input is a request
// frame without its size prefix. Parses the header, decodes the body for that
// api key and version, and, when that succeeds, encodes the frame again,
// parses and decodes the result, and traps unless the second decode gives the
// same message and the second encoding the same bytes (decoding normalises:
// unknown tags and trailing bytes are dropped, so the first encoding is the
// fixed point to compare against, not the input). The body is also tried as a
// response of the same API, which the bridge to other clusters will parse.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "kafka/protocol/apis.hpp"
#include "kafka/protocol/request_header.hpp"

namespace {

using skein::kafka::AnyRequest;
using skein::kafka::AnyResponse;
using skein::kafka::HeaderStatus;
using skein::kafka::Reader;
using skein::kafka::Writer;

void require(bool ok) {
  if (!ok) __builtin_trap();
}

std::vector<std::byte> bytes_of(const Writer& writer) {
  require(writer.ok() && !writer.has_files());
  return {writer.memory().begin(), writer.memory().end()};
}

void check_request(const skein::kafka::ParsedRequest& parsed) {
  const auto& header = parsed.header;
  Reader reader(parsed.body);
  AnyRequest request;
  if (!skein::kafka::decode_request(header.api_key, header.api_version, reader, request)) return;

  Writer first;
  require(skein::kafka::write_request_frame(first, header, request));
  const auto frame = bytes_of(first);
  const std::span<const std::byte> all(frame);

  const auto again = skein::kafka::parse_request_header(all.subspan(4));
  require(again.status == HeaderStatus::ok && again.version_supported);
  require(again.header == header);
  Reader second_reader(again.body);
  AnyRequest second;
  require(skein::kafka::decode_request(header.api_key, header.api_version, second_reader, second));
  require(second_reader.at_end());
  require(second == request);

  Writer second_writer;
  require(skein::kafka::write_request_frame(second_writer, header, second));
  require(bytes_of(second_writer) == frame);
}

void check_response(std::int16_t key, std::int16_t version, std::span<const std::byte> body) {
  Reader reader(body);
  AnyResponse response;
  if (!skein::kafka::decode_response(key, version, reader, response)) return;
  Writer first;
  skein::kafka::encode_message(response, first, version);
  const auto bytes = bytes_of(first);
  Reader second_reader(bytes);
  AnyResponse second;
  require(skein::kafka::decode_response(key, version, second_reader, second));
  require(second_reader.at_end());
  require(second == response);
  Writer second_writer;
  skein::kafka::encode_message(second, second_writer, version);
  require(bytes_of(second_writer) == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> frame(reinterpret_cast<const std::byte*>(data), size);
  const auto parsed = skein::kafka::parse_request_header(frame);
  if (parsed.status != HeaderStatus::ok || !parsed.version_supported) return 0;
  check_request(parsed);
  check_response(parsed.header.api_key, parsed.header.api_version, parsed.body);
  return 0;
}
