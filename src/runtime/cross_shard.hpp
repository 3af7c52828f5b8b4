// Calling across shards: run a function on another shard's event loop and
// resume the caller, on its own shard, with the result.
//
//   std::size_t n = co_await run_on(pool.executor(0), [&table] { return table.size(); });
//
// The function itself runs to completion on the target shard; it must not
// capture references to state owned by the caller's shard unless the caller
// outlives the call (it does: the caller is suspended until it returns).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <type_traits>
#include <utility>

namespace skein::runtime {

namespace detail {
// A coroutine taking its function by value: nothing it uses dies while it is
// suspended (unlike a capturing coroutine lambda).
template <class F>
boost::asio::awaitable<std::invoke_result_t<F&>> invoke_as_coroutine(F f) {
  co_return f();
}
}  // namespace detail

template <class F>
auto run_on(boost::asio::any_io_executor target, F f) {
  return boost::asio::co_spawn(std::move(target), detail::invoke_as_coroutine(std::move(f)),
                               boost::asio::use_awaitable);
}

}  // namespace skein::runtime
