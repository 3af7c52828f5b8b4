// Subscription index kernels (core/subscription_index.hpp): matches per second,
// insert and remove rates, and memory, against 10k, 100k and 1M filters.
//
// The filters are a realistic mix over two topic shapes,
//   fleet/{region}/{vehicle}/telemetry      orders/{status}/{region}/{id}
// ~70% exact, ~15% with a '*' level, ~10% with a prefix level ('veh1234*'),
// ~5% ending in '>'. Each filter has its own subscriber. The topics matched are
// drawn from a pre-generated, shuffled vector: half are made from the keys of
// subscribed filters (so they match at least one), 30% come from the key space
// at large (some match) and 20% match nothing (unknown vehicles, malformed order
// ids, other first levels). Each size's index is built once, outside the timed
// loops, and reused.
//
// Counters: avg_matches (subscribers per topic), hit_ratio (topics matching at
// least one filter), build_s (to insert all filters), index_MiB and
// B_per_filter (resident memory the index added while being built), rss_MiB
// (whole process, with every fixture built so far).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/subscription_index.hpp"
#include "core/subscription_table.hpp"

namespace {

using skein::core::SubscriptionIndex;
using skein::core::SubscriptionTable;
using Sub = std::uint32_t;

constexpr const char* kRegions[] = {
    "eu-west-1",    "eu-west-2",      "eu-central-1",   "eu-north-1",
    "us-east-1",    "us-east-2",      "us-west-1",      "us-west-2",
    "ap-south-1",   "ap-northeast-1", "ap-southeast-1", "ap-southeast-2",
    "ca-central-1", "sa-east-1",      "me-south-1",     "af-south-1"};
constexpr std::size_t kRegionCount = std::size(kRegions);
constexpr const char* kStatuses[] = {"created",   "paid",      "packed",   "shipped",
                                     "delivered", "cancelled", "returned", "refunded"};
constexpr std::size_t kStatusCount = std::size(kStatuses);

// Resident set size of this process, in bytes.
double rss_bytes() {
  long pages_total = 0, pages_resident = 0;
  if (std::FILE* f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages_total, &pages_resident) != 2) pages_resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// Draws filters and topics for an index of `size` filters. Vehicle and order
// ids range over [0, size), so the key space grows with the index and the share
// of matching topics stays about the same at every size.
class Workload {
 public:
  Workload(std::size_t size, std::uint32_t seed) : size_(size), rng_(seed) {}

  // What a filter is drawn from; topic_for() makes a topic that it matches.
  struct Key {
    bool fleet;
    std::uint32_t status;
    std::uint64_t id;
  };

  std::string filter() {
    last_ = Key{coin(), static_cast<std::uint32_t>(below(kStatusCount)), any_id()};
    const int kind = percent();  // 0..99
    const bool fleet = last_.fleet;
    const std::uint64_t id = last_.id;
    const std::string region = region_of(id);
    const std::string status = kStatuses[last_.status];
    if (kind < 70) {  // exact
      return fleet ? "fleet/" + region + "/veh" + std::to_string(id) + "/telemetry"
                   : "orders/" + status + "/" + region + "/" + std::to_string(id);
    }
    if (kind < 85) {  // one '*' level
      if (fleet) {
        return coin() ? "fleet/*/veh" + std::to_string(id) + "/telemetry"
                      : "fleet/" + region + "/veh" + std::to_string(id) + "/*";
      }
      return coin() ? "orders/*/" + region + "/" + std::to_string(id)
                    : "orders/" + status + "/*/" + std::to_string(id);
    }
    if (kind < 95) {  // prefix level: one digit shorter, ~11 ids
      const std::string prefix = std::to_string(id / 10);
      return fleet ? "fleet/" + region + "/veh" + prefix + "*/telemetry"
                   : "orders/" + status + "/" + region + "/" + prefix + "*";
    }
    // '>': everything under one vehicle
    last_.fleet = true;
    return "fleet/" + region + "/veh" + std::to_string(id) + "/>";
  }

  const Key& last_key() const { return last_; }

  // A topic that the filter drawn from `key` matches, whatever its kind.
  static std::string topic_for(const Key& key) {
    const std::string id = std::to_string(key.id);
    if (key.fleet) return "fleet/" + region_of(key.id) + "/veh" + id + "/telemetry";
    return "orders/" + std::string(kStatuses[key.status]) + "/" + region_of(key.id) + "/" + id;
  }

  // A topic from the subscribed key space (which may or may not match) or, 40%
  // of the time, one that nobody subscribed to.
  std::string topic() {
    const int kind = percent();
    const std::uint64_t id = any_id();
    const std::string status = kStatuses[below(kStatusCount)];
    if (kind < 30) return "fleet/" + region_of(id) + "/veh" + std::to_string(id) + "/telemetry";
    if (kind < 60) return "orders/" + status + "/" + region_of(id) + "/" + std::to_string(id);
    // Topics nobody subscribed to.
    if (kind < 75) return "fleet/" + region_of(id) + "/trk" + std::to_string(id) + "/telemetry";
    if (kind < 90) return "orders/" + status + "/" + region_of(id) + "/x" + std::to_string(id);
    return "metrics/host" + std::to_string(id % 4096) + "/cpu";
  }

 private:
  int percent() { return static_cast<int>(below(100)); }
  bool coin() { return below(2) == 0; }
  std::uint64_t below(std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(rng_);
  }
  std::uint64_t any_id() { return below(size_); }
  static std::string region_of(std::uint64_t id) { return kRegions[id % kRegionCount]; }

  std::size_t size_;
  std::mt19937_64 rng_;
  Key last_{};
};

constexpr std::size_t kTopicCount = 1 << 16;  // power of two: index with a mask
constexpr std::size_t kBatch = 1000;          // filters per insert/remove iteration
constexpr std::uint32_t kSeed = 0x5EED;

struct Fixture {
  SubscriptionIndex<Sub> index;
  std::vector<std::string> topics;
  std::vector<std::string> batch;  // filters for the insert/remove benchmarks
  double build_seconds = 0;
  double index_bytes = 0;
  std::size_t size = 0;
};

// One fixture per size, built on first use and kept for the whole run.
Fixture& fixture(std::size_t size) {
  static std::map<std::size_t, std::unique_ptr<Fixture>> fixtures;
  auto& slot = fixtures[size];
  if (slot) return *slot;
  slot = std::make_unique<Fixture>();
  Fixture& f = *slot;
  f.size = size;
  Workload work(size, kSeed);
  {
    std::vector<std::string> filters;
    filters.reserve(size);
    // Keys of some filters, to make topics that are sure to match.
    std::vector<Workload::Key> keys;
    const std::size_t stride = std::max<std::size_t>(1, size / kTopicCount);
    for (std::size_t i = 0; i < size; ++i) {
      filters.push_back(work.filter());
      if (i % stride == 0) keys.push_back(work.last_key());
    }
    // Half the topics match a subscribed filter; the other half come from
    // topic(): the key space at large and names nobody subscribed to.
    std::mt19937_64 pick(kSeed);
    f.topics.reserve(kTopicCount);
    for (std::size_t i = 0; i < kTopicCount; ++i) {
      f.topics.push_back(i % 2 == 0 ? Workload::topic_for(keys[pick() % keys.size()])
                                    : work.topic());
    }
    std::shuffle(f.topics.begin(), f.topics.end(), pick);
    const double rss_before = rss_bytes();
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < size; ++i) f.index.insert(filters[i], static_cast<Sub>(i));
    f.build_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    f.index_bytes = rss_bytes() - rss_before;
  }
  for (std::size_t i = 0; i < kBatch; ++i) f.batch.push_back(work.filter());
  return f;
}

void report_memory(benchmark::State& state, const Fixture& f) {
  state.counters["build_s"] = f.build_seconds;
  state.counters["index_MiB"] = f.index_bytes / (1024.0 * 1024.0);
  state.counters["B_per_filter"] = f.index_bytes / static_cast<double>(f.size);
  state.counters["rss_MiB"] = rss_bytes() / (1024.0 * 1024.0);
}

void BM_Match(benchmark::State& state) {
  Fixture& f = fixture(static_cast<std::size_t>(state.range(0)));
  std::vector<Sub> out;
  out.reserve(256);
  std::size_t i = 0, matched = 0, hits = 0;
  for (auto _ : state) {
    out.clear();
    f.index.match(f.topics[i++ & (kTopicCount - 1)], out);
    benchmark::DoNotOptimize(out.data());
    matched += out.size();
    hits += out.empty() ? 0 : 1;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  const double n = static_cast<double>(state.iterations());
  state.counters["avg_matches"] = static_cast<double>(matched) / n;
  state.counters["hit_ratio"] = static_cast<double>(hits) / n;
  report_memory(state, f);
}

// Inserts kBatch new pairs into an index of the given size (then, untimed,
// removes them again so the index keeps its size).
void BM_Insert(benchmark::State& state) {
  Fixture& f = fixture(static_cast<std::size_t>(state.range(0)));
  const Sub base = 0x80000000u;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kBatch; ++i)
      benchmark::DoNotOptimize(f.index.insert(f.batch[i], base + static_cast<Sub>(i)));
    state.PauseTiming();
    for (std::size_t i = 0; i < kBatch; ++i) f.index.remove(f.batch[i], base + static_cast<Sub>(i));
    state.ResumeTiming();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}

// Removes kBatch pairs from an index of the given size (inserted untimed first).
void BM_Remove(benchmark::State& state) {
  Fixture& f = fixture(static_cast<std::size_t>(state.range(0)));
  const Sub base = 0x80000000u;
  for (auto _ : state) {
    state.PauseTiming();
    for (std::size_t i = 0; i < kBatch; ++i) f.index.insert(f.batch[i], base + static_cast<Sub>(i));
    state.ResumeTiming();
    for (std::size_t i = 0; i < kBatch; ++i)
      benchmark::DoNotOptimize(f.index.remove(f.batch[i], base + static_cast<Sub>(i)));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kBatch));
}

// The subscription service's write cycle on a SubscriptionTable of the given
// size: stage a batch of changes on the standby copy, publish, catch up the
// other copy; once adding kTableBatch pairs, once removing them. Items are changes.
constexpr std::size_t kTableBatch = 100;

void BM_TableApply(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  using Table = SubscriptionTable<Sub>;
  static std::map<std::size_t, std::unique_ptr<Table>> tables;
  auto& table = tables[size];
  if (!table) {
    Workload work(size, kSeed + 1);
    table = std::make_unique<Table>();
    std::vector<Table::Change> all;
    all.reserve(size);
    for (std::size_t i = 0; i < size; ++i)
      all.push_back({true, work.filter(), static_cast<Sub>(i)});
    table->stage(all);
    table->publish();
    table->catch_up(all);
  }
  Workload work(size, kSeed + 3);
  std::vector<Table::Change> add, remove;
  for (std::size_t i = 0; i < kTableBatch; ++i) {
    std::string filter = work.filter();
    add.push_back({true, filter, static_cast<Sub>(0x80000000u + i)});
    remove.push_back({false, std::move(filter), static_cast<Sub>(0x80000000u + i)});
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(table->stage(add));
    table->publish();
    table->catch_up(add);
    benchmark::DoNotOptimize(table->stage(remove));
    table->publish();
    table->catch_up(remove);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * 2 * kTableBatch));
  state.counters["rss_MiB"] = rss_bytes() / (1024.0 * 1024.0);
}

BENCHMARK(BM_Match)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kNanosecond);
BENCHMARK(BM_Insert)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Remove)->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TableApply)->Arg(10'000)->Arg(100'000)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
