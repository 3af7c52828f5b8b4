// A repeating timer per shard; the lateness of each expiry is the loop's lag.
#include "runtime/loop_lag_probe.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace skein::runtime {

using Clock = std::chrono::steady_clock;

struct LoopLagProbe::Ticker : std::enable_shared_from_this<Ticker> {
  Ticker(asio::any_io_executor executor, PerShard& stats, std::chrono::milliseconds interval)
      : timer(executor), stats(stats), interval(interval) {}

  void arm() {
    due = Clock::now() + interval;
    timer.expires_at(due);
    timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;  // cancelled: the probe stopped
      auto lag = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - self->due);
      const std::int64_t us = lag.count();
      self->stats.last_us.store(us, std::memory_order_relaxed);
      if (us > self->stats.max_us.load(std::memory_order_relaxed))
        self->stats.max_us.store(us, std::memory_order_relaxed);
      self->arm();
    });
  }

  asio::steady_timer timer;
  PerShard& stats;
  std::chrono::milliseconds interval;
  Clock::time_point due;
};

LoopLagProbe::LoopLagProbe(ShardPool& pool, std::chrono::milliseconds interval)
    : pool_(pool), interval_(interval) {
  for (unsigned i = 0; i < pool.size(); ++i) shards_.push_back(std::make_unique<PerShard>());
}

LoopLagProbe::~LoopLagProbe() = default;

void LoopLagProbe::start() {
  for (unsigned i = 0; i < pool_.size(); ++i) {
    auto ticker = std::make_shared<Ticker>(pool_.executor(i), *shards_[i], interval_);
    tickers_.push_back(ticker);
    asio::post(pool_.executor(i), [ticker] { ticker->arm(); });
  }
}

void LoopLagProbe::stop(Clock::time_point) {
  for (auto& ticker : tickers_) {
    asio::post(ticker->timer.get_executor(), [ticker] { ticker->timer.cancel(); });
  }
}

std::chrono::microseconds LoopLagProbe::last_lag(unsigned shard) const {
  return std::chrono::microseconds(shards_[shard]->last_us.load(std::memory_order_relaxed));
}

std::chrono::microseconds LoopLagProbe::take_max_lag(unsigned shard) {
  return std::chrono::microseconds(shards_[shard]->max_us.exchange(0, std::memory_order_relaxed));
}

}  // namespace skein::runtime
