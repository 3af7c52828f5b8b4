// Sends what a protocol Writer produced (kafka/protocol/writer.hpp) on a TCP
// socket: runs of in-memory bytes with one gathered write each, and file
// pieces (record batches in log segments) with sendfile, so that fetched
// records go from the page cache to the socket without a copy through user
// space (DESIGN.md §4). A file that ends before its range (truncated under
// us) is an error: the frame's size prefix already promised those bytes.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "kafka/protocol/writer.hpp"

namespace skein::kafka {

boost::asio::awaitable<boost::system::error_code> send_output(boost::asio::ip::tcp::socket& socket,
                                                              const Writer& output);

}  // namespace skein::kafka
