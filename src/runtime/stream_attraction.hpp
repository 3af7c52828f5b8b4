// StreamAttraction: streams as destinations of the router (DESIGN.md §1
// "Stream": "every event published anywhere in the mesh whose topic matches
// is appended to the stream, partitioned by key (topic when keyless), in
// arrival order").
//
// Each stream with attract filters has one StreamDestination, subscribed to
// the router under each filter like any subscriber, so the router (and,
// later, the mesh registry) sees a stream's interest as it sees everyone's.
// The destination lives on one shard; its queue is never bounded (a
// persistent destination never drops). It drains in rounds: take everything
// queued, build one record batch per partition (the key's murmur2 as Kafka's
// default partitioner does, the topic's when keyless), append them all at
// once on the partitions' shards, wait, answer the receipts of persistent
// events, repeat. A busy stream therefore appends large batches; an idle one
// appends each event at once. Every record carries its topic in the header
// `skein-topic`, then the event's own headers (and `content-type` when the
// publisher gave one).
//
// An event that entered as a Kafka record produced to a stream is not taken
// by that same stream again.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/destination.hpp"
#include "runtime/shard_pool.hpp"
#include "runtime/stream_service.hpp"
#include "runtime/subscription_service.hpp"

namespace skein::runtime {

class StreamDestination final : public core::Destination {
 public:
  StreamDestination(ShardPool& pool, StreamService& streams, std::string stream, unsigned home);

  const std::string& stream() const { return stream_; }
  bool persistent() const override { return true; }

  // Home shard: stops taking events; the receipts of those still queued fail.
  void shut();

  // Events appended and events that could not be, since start (any thread).
  std::uint64_t appended() const { return appended_.load(std::memory_order_relaxed); }
  std::uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 protected:
  void wake() override;

 private:
  // The rounds, while events come; holds the destination alive meanwhile.
  static boost::asio::awaitable<void> drain(std::shared_ptr<StreamDestination> self);
  boost::asio::awaitable<void> append_round(std::deque<core::EventPtr> events);

  ShardPool& pool_;
  StreamService& streams_;
  const std::string stream_;
  bool draining_ = false;  // home shard only
  std::atomic<std::uint64_t> appended_{0}, failed_{0};
};

class StreamAttraction {
 public:
  StreamAttraction(ShardPool& pool, StreamService& streams, SubscriptionService& subscriptions);

  // Brings the router in line with the stream's attract filters as the
  // catalog has them now (none once the stream is gone). Completes when the
  // change is in effect on every shard. Any shard; calls may overlap: they
  // reach the router in the order they were made.
  boost::asio::awaitable<void> sync(std::string stream);
  // The same without waiting, from any thread (catalog changes made by the
  // Kafka face).
  void sync_later(std::string stream);

  // Subscribes every stream in the catalog; blocks until done. Call after the
  // shards run and before the faces take clients.
  void start();
  // Shuts every destination (after the faces stopped).
  void stop();

  // Every stream that attracts events, with its destination (any thread).
  std::vector<std::shared_ptr<StreamDestination>> destinations() const;
  // How many attract filters the stream has in the router (any thread).
  std::size_t filter_count(const std::string& stream) const;
  // The destination of a stream, null when it attracts nothing.
  std::shared_ptr<StreamDestination> destination(const std::string& stream) const;

 private:
  struct Entry {
    std::shared_ptr<StreamDestination> destination;
    std::vector<std::string> filters;  // in the router now (or on their way)
  };
  // Computes and enqueues the router changes under the lock, so that changes
  // reach the subscription service in the order they were decided.
  void reconcile(const std::string& stream, std::function<void()> done);
  unsigned home_for(const std::string& stream) const;

  ShardPool& pool_;
  StreamService& streams_;
  SubscriptionService& subscriptions_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;  // guarded by mutex_
};

}  // namespace skein::runtime
