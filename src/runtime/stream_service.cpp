// The node's streams at run time (stream_service.hpp).
#include "runtime/stream_service.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "runtime/cross_shard.hpp"

namespace skein::runtime {

using storage::Errc;
using storage::Error;

StreamPartition::StreamPartition(std::string stream, std::int32_t index, unsigned shard,
                                 asio::any_io_executor executor,
                                 std::unique_ptr<storage::Partition> log,
                                 const storage::StreamConfig& config)
    : stream_(std::move(stream)),
      index_(index),
      shard_(shard),
      executor_(std::move(executor)),
      log_(std::move(log)),
      group_commit_(std::make_unique<storage::GroupCommit>(
          config.fsync, std::chrono::milliseconds(config.fsync_interval_ms))) {
  publish_offsets();
}

StreamPartition::~StreamPartition() {
  // The GroupCommit syncs what is pending before the log closes.
  group_commit_.reset();
}

void StreamPartition::publish_offsets() {
  log_start_.store(log_->log_start_offset(), std::memory_order_release);
  log_end_.store(log_->log_end_offset(), std::memory_order_release);
  size_bytes_.store(log_->size_bytes(), std::memory_order_relaxed);
}

void StreamPartition::add_waiter(std::weak_ptr<void> alive, std::function<void()> wake) {
  // Long polls that timed out leave expired entries on an idle partition:
  // sweep them whenever the list has doubled, so it stays bounded.
  if (waiters_.size() >= 16 && (waiters_.size() & (waiters_.size() - 1)) == 0)
    std::erase_if(waiters_, [](const Waiter& w) { return w.alive.expired(); });
  waiters_.push_back({std::move(alive), std::move(wake)});
}

void StreamPartition::wake_waiters() {
  std::vector<Waiter> waiters;
  waiters.swap(waiters_);
  for (auto& w : waiters)
    if (!w.alive.expired()) w.wake();
}

StreamService::StreamService(ShardPool& pool, Options options)
    : pool_(pool), options_(std::move(options)) {}

StreamService::~StreamService() {
  compaction_.join();
  close();
}

unsigned StreamService::shard_for(std::string_view stream, std::int32_t index) const {
  const std::size_t h = std::hash<std::string_view>{}(stream);
  return static_cast<unsigned>((h + static_cast<std::size_t>(index)) % pool_.size());
}

storage::Result<PartitionRef> StreamService::open_partition(const storage::StreamConfig& config,
                                                            std::int32_t index) {
  std::vector<storage::RecoveryReport> reports;
  auto log = storage::Partition::open(store_->partition_directory(config.name, index),
                                      config.partition_options(), &reports);
  if (!log) return log.error();
  for (const auto& r : reports) {
    if (r.truncated_bytes > 0)
      spdlog::warn("stream {} partition {}: recovery cut {} bytes: {}", config.name, index,
                   r.truncated_bytes, r.reason);
    else
      spdlog::info("stream {} partition {}: {}", config.name, index,
                   r.reason.empty() ? "rebuilt an index" : r.reason);
  }
  const unsigned shard = shard_for(config.name, index);
  return std::make_shared<StreamPartition>(config.name, index, shard, pool_.executor(shard),
                                           std::move(log.value()), config);
}

void StreamService::open() {
  std::lock_guard lock(mutex_);
  auto store = storage::StreamStore::open(options_.data_directory);
  if (!store) throw std::runtime_error("streams: " + store.error().message);
  store_ = std::move(store.value());
  for (const auto& config : store_->list()) {
    Stream stream{config, {}};
    for (std::int32_t p = 0; p < config.partitions; ++p) {
      auto partition = open_partition(config, p);
      if (!partition)
        throw std::runtime_error("stream " + config.name + " partition " + std::to_string(p) +
                                 ": " + partition.error().message);
      stream.partitions.push_back(std::move(partition.value()));
    }
    streams_.emplace(config.name, std::move(stream));
  }
}

void StreamService::start() {
  for (unsigned shard = 0; shard < pool_.size(); ++shard) {
    timers_.push_back(std::make_unique<asio::steady_timer>(pool_.executor(shard)));
    schedule_housekeeping(shard);
  }
}

void StreamService::schedule_housekeeping(unsigned shard) {
  asio::steady_timer& timer = *timers_[shard];
  timer.expires_after(options_.housekeeping_interval);
  timer.async_wait([this, shard](boost::system::error_code ec) {
    if (ec) return;
    std::vector<PartitionRef> mine;
    {
      std::lock_guard lock(mutex_);
      for (const auto& [name, stream] : streams_)
        for (const auto& p : stream.partitions)
          if (p->shard() == shard) mine.push_back(p);
    }
    for (const auto& p : mine) housekeep(p);
    schedule_housekeeping(shard);
  });
}

// On the partition's shard: retention, then a compaction job if one is due.
std::shared_ptr<storage::CompactionJob> StreamService::retain_and_start(const PartitionRef& p) {
  if (auto retention = p->log().apply_retention(); !retention) {
    spdlog::error("stream {} partition {}: retention: {}", p->stream(), p->index(),
                  retention.error().message);
  } else if (retention.value().segments_deleted > 0) {
    spdlog::info("stream {} partition {}: retention deleted {} segments ({} bytes)", p->stream(),
                 p->index(), retention.value().segments_deleted, retention.value().bytes_deleted);
  }
  p->publish_offsets();
  // Null too while an earlier job is still out: the partition keeps track.
  return p->log().start_compaction();
}

// On the partition's shard, after the job ran (successfully or not).
void StreamService::finish_job(const PartitionRef& p, storage::CompactionJob& job,
                               const std::optional<storage::Error>& failed) {
  auto report = p->log().finish_compaction(job);
  p->publish_offsets();
  if (failed)
    spdlog::error("stream {} partition {}: compaction: {}", p->stream(), p->index(),
                  failed->message);
  else if (!report)
    spdlog::error("stream {} partition {}: compaction swap: {}", p->stream(), p->index(),
                  report.error().message);
  else if (report.value().records_removed > 0)
    spdlog::info("stream {} partition {}: compaction removed {} records ({} -> {} bytes)",
                 p->stream(), p->index(), report.value().records_removed,
                 report.value().bytes_before, report.value().bytes_after);
}

void StreamService::housekeep(const PartitionRef& p) {
  auto job = retain_and_start(p);
  if (!job) return;
  asio::post(compaction_, [this, p, job] {
    storage::Status ran = job->run();
    std::optional<storage::Error> failed;
    if (!ran) failed = ran.error();
    asio::post(p->executor(), [this, p, job, failed] { finish_job(p, *job, failed); });
  });
}

asio::awaitable<void> StreamService::housekeep_now() {
  std::vector<PartitionRef> all;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [name, stream] : streams_)
      for (const auto& p : stream.partitions) all.push_back(p);
  }
  // Named lambdas throughout: see append().
  for (const auto& p : all) {
    auto start = [this, p] { return retain_and_start(p); };
    auto job = co_await run_on(p->executor(), std::move(start));
    if (!job) continue;
    auto run = [job] {
      storage::Status ran = job->run();
      return ran ? std::optional<storage::Error>() : std::optional<storage::Error>(ran.error());
    };
    auto failed = co_await run_on(compaction_.get_executor(), std::move(run));
    auto finish = [this, p, job, failed] {
      finish_job(p, *job, failed);
      return true;
    };
    co_await run_on(p->executor(), std::move(finish));
  }
}

void StreamService::close() {
  for (auto& timer : timers_) timer->cancel();
  std::lock_guard lock(mutex_);
  streams_.clear();  // each partition's GroupCommit flushes as it goes
}

std::vector<storage::StreamConfig> StreamService::list() const {
  std::lock_guard lock(mutex_);
  std::vector<storage::StreamConfig> out;
  for (const auto& [name, stream] : streams_) out.push_back(stream.config);
  return out;
}

std::optional<storage::StreamConfig> StreamService::find(std::string_view name) const {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return std::nullopt;
  return it->second.config;
}

storage::Status StreamService::create(const storage::StreamConfig& config) {
  std::lock_guard lock(mutex_);
  if (auto s = store_->create(config); !s) return s;
  Stream stream{config, {}};
  for (std::int32_t p = 0; p < config.partitions; ++p) {
    auto partition = open_partition(config, p);
    if (!partition) return partition.error();
    stream.partitions.push_back(std::move(partition.value()));
  }
  streams_.emplace(config.name, std::move(stream));
  return storage::Ok{};
}

storage::Status StreamService::update(const storage::StreamConfig& config) {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(config.name);
  if (it == streams_.end()) return Error{Errc::not_found, "no stream " + config.name};
  if (auto s = store_->update(config); !s) return s;
  Stream& stream = it->second;
  // Settings take effect on each partition's own shard.
  for (const auto& p : stream.partitions) {
    asio::post(p->executor(),
               [p, options = config.partition_options()] { p->log().set_options(options); });
  }
  for (auto p = static_cast<std::int32_t>(stream.partitions.size()); p < config.partitions; ++p) {
    auto partition = open_partition(config, p);
    if (!partition) return partition.error();
    stream.partitions.push_back(std::move(partition.value()));
  }
  stream.config = config;
  return storage::Ok{};
}

storage::Status StreamService::remove(std::string_view name) {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(name);
  if (it == streams_.end()) return Error{Errc::not_found, "no stream " + std::string(name)};
  // Requests in flight hold their PartitionRefs and finish on the unlinked
  // files; new lookups no longer find the stream.
  streams_.erase(it);
  return store_->remove(name);
}

PartitionRef StreamService::partition(std::string_view stream, std::int32_t index) const {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(stream);
  if (it == streams_.end() || index < 0 ||
      static_cast<std::size_t>(index) >= it->second.partitions.size())
    return nullptr;
  return it->second.partitions[static_cast<std::size_t>(index)];
}

std::vector<PartitionRef> StreamService::partitions(std::string_view stream) const {
  std::lock_guard lock(mutex_);
  auto it = streams_.find(stream);
  return it == streams_.end() ? std::vector<PartitionRef>{} : it->second.partitions;
}

namespace {
// What one append carries to the partition's shard and back.
struct AppendCall {
  PartitionRef partition;
  std::vector<std::byte> batch;
  bool wait_durable = false;
  std::function<void(AppendResult)> complete;  // resumes the caller

  void run() {
    StreamPartition& p = *partition;
    const auto header = storage::check_batch(batch, batch.size(), false).header;
    if (header && header->producer_id >= 0) {
      const auto check = p.producers.check(*header);
      using V = storage::ProducerState::Verdict;
      if (check.verdict == V::duplicate)
        return complete({std::nullopt, check.duplicate_base_offset, p.log_start(), true});
      if (check.verdict == V::out_of_order)
        return complete({Error{Errc::out_of_order, check.message}, -1, p.log_start()});
      if (check.verdict == V::fenced)
        return complete({Error{Errc::fenced, check.message}, -1, p.log_start()});
    }
    auto appended = p.log().append(batch);
    if (!appended) return complete({appended.error(), -1, p.log_start()});
    const std::int64_t base = appended.value();
    const std::int64_t last = base + (header ? header->last_offset_delta : 0);
    if (header) p.producers.record(*header, base);
    p.publish_offsets();
    p.wake_waiters();
    AppendResult ok{std::nullopt, base, p.log_start()};
    if (!wait_durable) {
      p.group_commit().appended(p.log(), last, [](const storage::Status&) {});
      return complete(ok);
    }
    p.group_commit().appended(p.log(), last, [complete = complete, ok](const storage::Status& s) {
      AppendResult r = ok;
      if (!s) r.error = s.error();
      complete(r);
    });
  }
};
}  // namespace

asio::awaitable<AppendResult> StreamService::append(PartitionRef p, std::vector<std::byte> batch,
                                                    bool wait_durable) {
  auto call = std::make_shared<AppendCall>();
  call->partition = p;
  call->batch.swap(batch);
  call->wait_durable = wait_durable;
  auto work = [call](std::function<void(AppendResult)> done) {
    call->complete = std::move(done);
    call->run();
  };
  AppendResult result =
      co_await start_on<AppendResult>(call->partition->executor(), std::move(work));
  co_return result;
}

namespace {

// The appends of one append_all in flight; the timer is a latch that the
// last one to finish cancels.
struct AppendLatch {
  explicit AppendLatch(asio::any_io_executor executor, std::size_t n)
      : results(n), left(n), done(executor, asio::steady_timer::time_point::max()) {}
  std::vector<AppendResult> results;
  std::size_t left;
  asio::steady_timer done;
};

asio::awaitable<void> append_into(StreamService& service, StreamService::AppendJob job,
                                  std::shared_ptr<AppendLatch> latch, std::size_t index) {
  AppendResult result =
      co_await service.append(std::move(job.partition), std::move(job.batch), job.wait_durable);
  latch->results[index] = std::move(result);
  if (--latch->left == 0) latch->done.cancel();
}

}  // namespace

asio::awaitable<std::vector<AppendResult>> StreamService::append_all(std::vector<AppendJob> jobs) {
  if (jobs.empty()) co_return std::vector<AppendResult>{};
  auto executor = co_await asio::this_coro::executor;
  auto latch = std::make_shared<AppendLatch>(executor, jobs.size());
  // Each append is posted to its partition's shard as it is spawned here, in
  // order, so appends to one partition keep the order of `jobs`.
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    asio::co_spawn(executor, append_into(*this, std::move(jobs[i]), latch, i), asio::detached);
  }
  co_await latch->done.async_wait(asio::as_tuple(asio::use_awaitable));
  co_return std::move(latch->results);
}

asio::awaitable<ReadResult> StreamService::read(PartitionRef p, std::int64_t offset,
                                                std::size_t max_bytes) {
  // Named lambdas throughout: see append().
  auto work = [p, offset, max_bytes] {
    ReadResult r;
    auto range = p->log().read(offset, max_bytes);
    if (!range)
      r.error = range.error();
    else
      r.range = std::move(range.value());
    r.log_start = p->log().log_start_offset();
    r.log_end = p->log().log_end_offset();
    return r;
  };
  ReadResult result = co_await run_on(p->executor(), std::move(work));
  co_return result;
}

asio::awaitable<std::int64_t> StreamService::offset_for_time(PartitionRef p,
                                                             std::int64_t timestamp) {
  auto work = [p, timestamp] { return p->log().offset_for_time(timestamp).value_or(-1); };
  const std::int64_t offset = co_await run_on(p->executor(), std::move(work));
  co_return offset;
}

asio::awaitable<void> StreamService::wait_for_data(
    std::vector<std::pair<PartitionRef, std::int64_t>> watch,
    std::chrono::steady_clock::time_point deadline) {
  auto caller = co_await asio::this_coro::executor;
  auto timer = std::make_shared<asio::steady_timer>(caller, deadline);
  // Each partition's shard checks (the data may have come meanwhile) or
  // registers a wake-up that cancels the timer back on the caller's shard.
  std::weak_ptr<void> alive = timer;
  for (auto& [p, offset] : watch) {
    asio::post(p->executor(), [p, offset, alive, caller] {
      auto wake = [alive, caller] {
        if (auto t = alive.lock())
          asio::post(caller, [t] { std::static_pointer_cast<asio::steady_timer>(t)->cancel(); });
      };
      if (p->log().log_end_offset() > offset)
        wake();
      else
        p->add_waiter(alive, wake);
    });
  }
  co_await timer->async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace skein::runtime
