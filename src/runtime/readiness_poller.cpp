// One epoll set per shard for idle-heavy sockets (readiness_poller.hpp).
#include "runtime/readiness_poller.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/system/system_error.hpp>
#include <cerrno>

namespace skein::runtime {

namespace asio = boost::asio;

asio::execution_context::id ReadinessPoller::id;

namespace {
boost::system::system_error errno_error(const char* what) {
  return boost::system::system_error(errno, boost::system::system_category(), what);
}
}  // namespace

ReadinessPoller::ReadinessPoller(asio::io_context& context)
    : asio::execution_context::service(context), context_(context), watcher_(context) {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw errno_error("epoll_create1");
  // The stream descriptor owns the epoll descriptor from here on.
  watcher_.assign(epoll_fd_);
}

ReadinessPoller::~ReadinessPoller() = default;

ReadinessPoller& ReadinessPoller::of(asio::io_context& context) {
  return asio::use_service<ReadinessPoller>(context);
}

void ReadinessPoller::add(int fd, PolledDescriptor& descriptor) {
  if (shut_down_) throw boost::system::system_error(asio::error::shut_down, "readiness poller");
  epoll_event event{};
  event.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  event.data.ptr = &descriptor;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) throw errno_error("epoll_ctl add");
  descriptor.watched_ = true;
  descriptor.prev_ = nullptr;
  descriptor.next_ = head_;
  if (head_) head_->prev_ = &descriptor;
  head_ = &descriptor;
  ++size_;
  if (!waiting_) wait();
}

void ReadinessPoller::remove(int fd, PolledDescriptor& descriptor) {
  if (!descriptor.watched_) return;
  unlink(descriptor);
  if (shut_down_) return;
  // The descriptor may go on living elsewhere (another shard's poller).
  epoll_event ignored{};
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, &ignored);
  // Events already fetched for it must not reach it: it may be gone next.
  for (int i = next_; i < fetched_; ++i)
    if (events_[i].data.ptr == &descriptor) events_[i].data.ptr = nullptr;
}

void ReadinessPoller::unlink(PolledDescriptor& descriptor) {
  descriptor.watched_ = false;
  if (descriptor.prev_)
    descriptor.prev_->next_ = descriptor.next_;
  else
    head_ = descriptor.next_;
  if (descriptor.next_) descriptor.next_->prev_ = descriptor.prev_;
  descriptor.prev_ = descriptor.next_ = nullptr;
  --size_;
}

void ReadinessPoller::wait() {
  if (shut_down_) return;
  waiting_ = true;
  watcher_.async_wait(asio::posix::stream_descriptor::wait_read,
                      [this](boost::system::error_code ec) {
                        waiting_ = false;
                        if (ec || shut_down_) return;
                        dispatch();
                      });
}

void ReadinessPoller::dispatch() {
  const int n = ::epoll_wait(epoll_fd_, events_.data(), static_cast<int>(events_.size()), 0);
  if (n < 0 && errno != EINTR) spdlog::error("readiness poller: epoll_wait: {}", errno);
  fetched_ = n < 0 ? 0 : n;
  next_ = 0;
  while (next_ < fetched_) {
    const epoll_event& event = events_[next_++];
    if (auto* descriptor = static_cast<PolledDescriptor*>(event.data.ptr))
      descriptor->on_events(event.events);
    if (shut_down_) return;
  }
  fetched_ = next_ = 0;
  if (head_ == nullptr) return;  // nothing to watch: add() waits again
  if (n == static_cast<int>(events_.size())) {
    // More may be ready: let the shard's other handlers run first.
    waiting_ = true;
    asio::post(context_, [this] {
      waiting_ = false;
      if (!shut_down_) dispatch();
    });
    return;
  }
  wait();
}

void ReadinessPoller::shutdown() {
  shut_down_ = true;
  // Handlers dropped here may destroy other descriptors: take one at a time.
  while (head_) {
    PolledDescriptor* descriptor = head_;
    unlink(*descriptor);
    descriptor->on_shutdown();
  }
  fetched_ = next_ = 0;
  boost::system::error_code ignored;
  watcher_.close(ignored);
}

}  // namespace skein::runtime
