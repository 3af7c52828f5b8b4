// LoopLagProbe: measures how late each shard's event loop runs a timer, the
// best single sign that a shard is overloaded (every handler on it waits that
// long). Exposed in /metrics as skein_shard_loop_lag_seconds.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "runtime/service.hpp"
#include "runtime/shard_pool.hpp"

namespace skein::runtime {

class LoopLagProbe final : public Service {
 public:
  explicit LoopLagProbe(ShardPool& pool,
                        std::chrono::milliseconds interval = std::chrono::milliseconds(100));
  ~LoopLagProbe() override;

  std::string_view name() const override { return "loop-lag-probe"; }
  void start() override;
  void stop(std::chrono::steady_clock::time_point deadline) override;

  // The lag of the last tick on `shard`, and the largest since the last call
  // to take_max_lag for that shard.
  std::chrono::microseconds last_lag(unsigned shard) const;
  std::chrono::microseconds take_max_lag(unsigned shard);

 private:
  struct alignas(64) PerShard {
    std::atomic<std::int64_t> last_us{0};
    std::atomic<std::int64_t> max_us{0};
  };
  struct Ticker;

  ShardPool& pool_;
  std::chrono::milliseconds interval_;
  std::vector<std::unique_ptr<PerShard>> shards_;
  std::vector<std::shared_ptr<Ticker>> tickers_;
};

}  // namespace skein::runtime
