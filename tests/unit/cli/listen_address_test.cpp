// Listener addresses: accepted forms and the errors for the rest.
#include "cli/listen_address.hpp"

#include <gtest/gtest.h>

namespace skein::cli {
namespace {

std::string round_trip(std::string_view text) {
  auto parsed = parse_listen_address(text);
  if (auto* error = std::get_if<std::string>(&parsed)) return "error: " + *error;
  return format_endpoint(std::get<boost::asio::ip::tcp::endpoint>(parsed));
}

TEST(ListenAddress, AcceptedForms) {
  EXPECT_EQ(round_trip("0.0.0.0:8080"), "0.0.0.0:8080");
  EXPECT_EQ(round_trip("127.0.0.1:0"), "127.0.0.1:0");
  EXPECT_EQ(round_trip(":9000"), "0.0.0.0:9000");
  EXPECT_EQ(round_trip("localhost:80"), "127.0.0.1:80");
  EXPECT_EQ(round_trip("[::1]:8080"), "[::1]:8080");
  EXPECT_EQ(round_trip("[::]:1"), "[::]:1");
}

TEST(ListenAddress, RefusedFormsSayWhy) {
  EXPECT_NE(round_trip("8080").find("expected HOST:PORT"), std::string::npos);
  EXPECT_NE(round_trip("1.2.3.4:").find("port must be a number"), std::string::npos);
  EXPECT_NE(round_trip("1.2.3.4:70000").find("port must be a number"), std::string::npos);
  EXPECT_NE(round_trip("1.2.3.4:8x").find("port must be a number"), std::string::npos);
  EXPECT_NE(round_trip("::1:8080").find("brackets"), std::string::npos);
  EXPECT_NE(round_trip("[::1]8080").find("[IPv6]:PORT"), std::string::npos);
  EXPECT_NE(round_trip("example.com:80").find("not an IP address"), std::string::npos);
}

}  // namespace
}  // namespace skein::cli
