// Calling across shards: run a function on another shard's event loop and
// resume the caller, on its own shard, with the result.
//
//   std::size_t n = co_await run_on(pool.executor(0), [&table] { return table.size(); });
//
// The function itself runs to completion on the target shard; it must not
// capture references to state owned by the caller's shard unless the caller
// outlives the call (it does: the caller is suspended until it returns).
//
// When the answer comes later than the function's return (a group member
// waiting for the rest of its group, a batch waiting for its fsync),
// start_on gives the function a `done` callback to call, once, from any
// thread; the caller resumes on its own shard with the value:
//
//   Response r = co_await start_on<Response>(group_shard, [=](auto done) {
//     group.await_join(member, std::move(done));
//   });
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
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

template <class T, class Start>
boost::asio::awaitable<T> start_on(boost::asio::any_io_executor target, Start start) {
  namespace asio = boost::asio;
  auto caller = co_await asio::this_coro::executor;
  // A named initiation: GCC 12 destroys a lambda's captures twice when the
  // lambda is a temporary inside a co_await expression.
  auto initiation = [target, caller, start = std::move(start)](auto handler) mutable {
    // The handler is move-only; `done` must be copyable (std::function).
    auto shared = std::make_shared<decltype(handler)>(std::move(handler));
    std::function<void(T)> done = [shared, caller](T value) {
      asio::post(caller,
                 [shared, value = std::move(value)]() mutable { (*shared)(std::move(value)); });
    };
    asio::post(target, [start = std::move(start), done = std::move(done)]() mutable {
      start(std::move(done));
    });
  };
  T result = co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(T)>(
      initiation, asio::use_awaitable);
  co_return result;
}

}  // namespace skein::runtime
