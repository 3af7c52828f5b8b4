// http_ws_load: the load generator of the whole-system benchmark "events/s
// from HTTP publishers to WebSocket subscribers" (bench/http-ws-throughput).
// One process on its own io_context threads (--threads, default 1, so that
// the broker under test keeps the other core). Against skein or the sink
// (bench/load/sink_server.cpp) it publishes with pipelined HTTP/1.1 POSTs and
// subscribes over WebSocket; against nats-server it uses the NATS protocol
// over TCP and over WebSocket (bench/load/nats_clients.cpp). The clock runs
// from the first publish until every subscriber has every event; see
// bench/README.md for how to read what it prints.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <exception>
#include <iostream>
#include <thread>

#include "load/harness.hpp"

namespace asio = boost::asio;
using namespace skein::bench;

namespace {

const char* target_name(Target t) {
  switch (t) {
    case Target::skein:
      return "skein";
    case Target::nats:
      return "nats";
    case Target::sink:
      return "sink";
  }
  return "?";
}

template <typename Awaitable>
void spawn(asio::io_context& ioc, Run& run, Awaitable work) {
  asio::co_spawn(asio::make_strand(ioc), std::move(work), [&run](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::lock_guard lock(run.mutex);
      std::cerr << "http_ws_load: unexpected exception: " << x.what() << "\n";
      run.stopping.store(true);
    }
  });
}

bool any_error(Run& run) {
  std::lock_guard lock(run.mutex);
  for (const auto& s : run.subscribers)
    if (!s.error.empty() && !s.done.load()) return true;
  for (const auto& p : run.publishers)
    if (!p.error.empty()) return true;
  return false;
}

template <typename Predicate>
asio::awaitable<bool> wait_until(Run& run, Clock::time_point deadline, Predicate done) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!done()) {
    if (Clock::now() >= deadline || run.stopping.load() || any_error(run)) co_return false;
    timer.expires_after(std::chrono::milliseconds(2));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  co_return true;
}

// Connect, probe, publish, wait: the phases of a run. Returns the phase that
// failed, or empty.
asio::awaitable<std::string> drive(asio::io_context& ioc, Run& run) {
  const auto& o = run.options;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(o.timeout_s));
  const bool nats = o.target == Target::nats;
  for (std::size_t i = 0; i < run.subscribers.size(); ++i) {
    spawn(ioc, run, nats ? nats_ws_subscriber(run, i) : ws_json_subscriber(run, i));
  }
  auto all = [&run](auto member) {
    return [&run, member] {
      for (const auto& s : run.subscribers)
        if (!(s.*member).load()) return false;
      return true;
    };
  };
  if (!co_await wait_until(run, deadline, all(&SubscriberTally::connected))) co_return "connect";
  // A subscriber is counted only once a probe event reached it: then its
  // subscription is in force wherever the publishers land.
  if (!run.subscribers.empty()) {
    spawn(ioc, run, nats ? nats_prober(run) : http_prober(run));
    if (!co_await wait_until(run, deadline, all(&SubscriberTally::probed))) co_return "probe";
  }
  run.probe_done.store(true);
  run.start = Clock::now();
  for (std::size_t i = 0; i < run.publishers.size(); ++i) {
    spawn(ioc, run, nats ? nats_publisher(run, i) : http_publisher(run, i));
  }
  auto finished = [&run] {
    for (const auto& p : run.publishers)
      if (!p.done.load()) return false;
    for (const auto& s : run.subscribers)
      if (!s.done.load()) return false;
    return true;
  };
  if (!co_await wait_until(run, deadline, finished)) co_return "run";
  co_return std::string();
}

double seconds(Clock::duration d) {
  return std::chrono::duration<double>(d).count();
}

int report(Run& run, const std::string& failed_phase) {
  const auto& o = run.options;
  const auto now = Clock::now();
  std::uint64_t acked = 0, received = 0, order_errors = 0, unknown = 0;
  Clock::time_point published = run.start, delivered = run.start;
  for (auto& p : run.publishers) {
    acked += p.acked.load();
    published = std::max(published, p.done.load() ? p.finished : now);
  }
  for (auto& s : run.subscribers) {
    received += s.received.load();
    order_errors += s.order_errors;
    unknown += s.unknown;
    delivered = std::max(delivered, s.done.load() ? s.finished : now);
  }
  if (run.subscribers.empty()) delivered = published;
  const bool started = run.start != Clock::time_point{};  // else no publish was made
  const double pub_s = started ? seconds(published - run.start) : 0;
  const double del_s = started ? seconds(delivered - run.start) : 0;
  const double pub_rate = pub_s > 0 ? static_cast<double>(acked) / pub_s : 0;
  const double del_rate = del_s > 0 ? static_cast<double>(received) / del_s : 0;
  const double mb_rate = del_rate * static_cast<double>(o.bytes) / 1e6;
  const bool ok = failed_phase.empty() && order_errors == 0 && unknown == 0;

  std::printf(
      "target %s: %d subscriber(s), %d publisher(s), %llu events of %zu bytes, window %zu\n",
      target_name(o.target), o.subscribers, o.publishers, static_cast<unsigned long long>(o.events),
      o.bytes, o.window);
  std::printf("published: %llu acknowledged in %.3f s = %.0f events/s\n",
              static_cast<unsigned long long>(acked), pub_s, pub_rate);
  std::printf("delivered: %llu of %llu in %.3f s = %.0f events/s, %.1f MB/s of payload\n",
              static_cast<unsigned long long>(received),
              static_cast<unsigned long long>(o.events * run.subscribers.size()), del_s, del_rate,
              mb_rate);
  if (!ok) {
    std::printf("FAILED%s%s; order errors %llu, unparsed frames %llu\n",
                failed_phase.empty() ? "" : " in phase ", failed_phase.c_str(),
                static_cast<unsigned long long>(order_errors),
                static_cast<unsigned long long>(unknown));
    std::lock_guard lock(run.mutex);
    for (std::size_t i = 0; i < run.subscribers.size(); ++i) {
      const auto& s = run.subscribers[i];
      std::printf("  subscriber %zu: %llu events%s%s\n", i,
                  static_cast<unsigned long long>(s.received.load()), s.error.empty() ? "" : ", ",
                  s.error.c_str());
    }
    for (std::size_t i = 0; i < run.publishers.size(); ++i) {
      const auto& p = run.publishers[i];
      std::printf("  publisher %zu: %llu acknowledged%s%s\n", i,
                  static_cast<unsigned long long>(p.acked.load()), p.error.empty() ? "" : ", ",
                  p.error.c_str());
    }
  }
  std::printf(
      "result target=%s status=%s subscribers=%d publishers=%d events=%llu bytes=%zu "
      "published_per_s=%.0f delivered_per_s=%.0f mb_per_s=%.2f seconds=%.3f received=%llu\n",
      target_name(o.target), ok ? "ok" : "failed", o.subscribers, o.publishers,
      static_cast<unsigned long long>(o.events), o.bytes, pub_rate, del_rate, mb_rate, del_s,
      static_cast<unsigned long long>(received));
  std::fflush(stdout);
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int exit_code = 0;
  auto options = parse_options(argc, argv, exit_code);
  if (!options) return exit_code;
  if (options->serve_sink) return serve_sink(*options);

  Run run(*options);  // outlives the io_context, whose coroutines refer to it
  asio::io_context ioc(options->threads);
  std::string failed_phase = "run";
  asio::co_spawn(ioc, drive(ioc, run), [&](std::exception_ptr e, std::string phase) {
    if (!e) failed_phase = std::move(phase);
    run.stopping.store(true);
    ioc.stop();
  });
  std::vector<std::thread> threads;
  for (int i = 1; i < options->threads; ++i) threads.emplace_back([&] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  return report(run, failed_phase);
}
