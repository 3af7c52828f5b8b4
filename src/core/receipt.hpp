// Receipt: how a persistent publish learns that its event is stored
// (DESIGN.md §2: "acknowledged only once durable at the ingress node").
//
// The publisher makes one with a completion and puts it in the event. The
// router calls expect() once for every persistent destination it offers the
// event to (a stream that attracts it), before the offer, so the count is
// complete before any destination can answer; the publisher holds one
// expectation of its own while it publishes and releases it with stored()
// after. Each destination answers stored() once the event is durable there,
// or failed() with a reason. The completion runs once, on whichever thread
// answers last (or first fails): it must only post somewhere.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace skein::core {

class Receipt {
 public:
  // Called once: nullopt when every destination stored the event, else why not.
  using Completion = std::function<void(std::optional<std::string> failure, std::size_t stored)>;

  explicit Receipt(Completion completion) : completion_(std::move(completion)) {}
  Receipt(const Receipt&) = delete;
  Receipt& operator=(const Receipt&) = delete;

  // One more destination will answer. Starts at one: the publisher's own.
  void expect() { left_.fetch_add(1, std::memory_order_relaxed); }

  // A destination (or the publisher, for its own expectation) is done.
  void stored(bool counts = true) {
    if (counts) stored_.fetch_add(1, std::memory_order_relaxed);
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) finish();
  }

  void failed(std::string why) {
    {
      std::lock_guard lock(mutex_);
      if (!failure_) failure_ = std::move(why);
    }
    if (left_.fetch_sub(1, std::memory_order_acq_rel) == 1) finish();
  }

  // Destinations that stored it so far (the publisher's own not counted).
  std::size_t stored_count() const { return stored_.load(std::memory_order_relaxed); }

 private:
  void finish() {
    std::optional<std::string> failure;
    {
      std::lock_guard lock(mutex_);
      failure = failure_;
    }
    completion_(std::move(failure), stored_count());
  }

  Completion completion_;
  std::atomic<std::size_t> left_{1};
  std::atomic<std::size_t> stored_{0};
  std::mutex mutex_;
  std::optional<std::string> failure_;
};

}  // namespace skein::core
