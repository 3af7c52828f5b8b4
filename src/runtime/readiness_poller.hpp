// ReadinessPoller: one epoll set per shard for sockets that are mostly idle
// (MQTT devices), so that a waiting socket costs a few pointers in its own
// object instead of Asio's per-socket reactor state (a descriptor state of
// ~170 bytes with a mutex and three operation queues) and a heap-allocated
// wait operation (~180 bytes) per wait. docs/architecture.md says why the
// MQTT face has its own reactor here.
//
// The poller's epoll descriptor is itself registered with the shard's
// io_context, so readiness is dispatched on the shard's thread, between its
// other handlers. Descriptors are watched edge-triggered for input, output
// and hang-up from the moment they are added; what each readiness means
// (reads or writes may go on) is the descriptor's business.
//
// Made on first use for an io_context (an Asio service): ReadinessPoller::of().
#pragma once

#include <sys/epoll.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cstdint>

namespace skein::runtime {

// What a ReadinessPoller watches. Called on the poller's thread only.
class PolledDescriptor {
 public:
  // `events`: the epoll events that fired (EPOLLIN, EPOLLOUT, EPOLLHUP...).
  // May remove and destroy this descriptor, or others.
  virtual void on_events(std::uint32_t events) = 0;
  // The shard is shutting down: drop every waiting handler (they may own
  // this descriptor). The poller no longer watches it.
  virtual void on_shutdown() = 0;

 protected:
  PolledDescriptor() = default;
  ~PolledDescriptor() = default;
  PolledDescriptor(const PolledDescriptor&) = delete;
  PolledDescriptor& operator=(const PolledDescriptor&) = delete;

 private:
  friend class ReadinessPoller;
  // The poller's list of what it watches (for shutdown): no allocation.
  PolledDescriptor* prev_ = nullptr;
  PolledDescriptor* next_ = nullptr;
  bool watched_ = false;
};

class ReadinessPoller final : public boost::asio::execution_context::service {
 public:
  using key_type = ReadinessPoller;
  static boost::asio::execution_context::id id;

  explicit ReadinessPoller(boost::asio::io_context& context);
  ~ReadinessPoller() override;

  // The poller of `context`, made on first use.
  static ReadinessPoller& of(boost::asio::io_context& context);

  boost::asio::io_context& context() { return context_; }

  // Watches `fd` for `descriptor` (on the poller's thread). Throws
  // boost::system::system_error when epoll refuses it.
  void add(int fd, PolledDescriptor& descriptor);
  // Stops watching; events already fetched for it are not delivered. Safe
  // after shutdown and for a descriptor not watched.
  void remove(int fd, PolledDescriptor& descriptor);

  // Descriptors watched now (for tests and metrics).
  std::size_t size() const { return size_; }

 private:
  void shutdown() override;
  void wait();
  // Delivers what epoll has ready, at most one batch; then waits again (or,
  // after a full batch, yields to the shard's other handlers first).
  void dispatch();
  void unlink(PolledDescriptor& descriptor);

  boost::asio::io_context& context_;
  int epoll_fd_ = -1;
  // The epoll descriptor in the io_context's own reactor.
  boost::asio::posix::stream_descriptor watcher_;
  std::array<epoll_event, 256> events_{};
  int fetched_ = 0;  // events_[0, fetched_) came from the last epoll_wait
  int next_ = 0;     // the next of them to deliver
  PolledDescriptor* head_ = nullptr;
  std::size_t size_ = 0;
  bool waiting_ = false;
  bool shut_down_ = false;
};

}  // namespace skein::runtime
