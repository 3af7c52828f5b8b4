// LazyQueue: a FIFO that costs one pointer while empty. The deque behind it
// is made on the first push and given back once the queue drains, so the
// millions of idle destinations an MQTT node holds (quiet devices) keep no
// queue memory; a busy queue pays one allocation per burst.
#pragma once

#include <deque>
#include <memory>
#include <utility>

namespace skein::core {

template <class T>
class LazyQueue {
 public:
  using iterator = typename std::deque<T>::iterator;
  using const_iterator = typename std::deque<T>::const_iterator;

  bool empty() const { return !items_ || items_->empty(); }
  std::size_t size() const { return items_ ? items_->size() : 0; }

  void push_back(T value) {
    if (!items_) items_ = std::make_unique<std::deque<T>>();
    items_->push_back(std::move(value));
  }
  // Precondition: not empty.
  T& front() { return items_->front(); }
  const T& front() const { return items_->front(); }
  T& back() { return items_->back(); }
  const T& back() const { return items_->back(); }
  void pop_front() {
    items_->pop_front();
    release_if_empty();
  }
  iterator erase(iterator it) {
    auto next = items_->erase(it);
    if (items_->empty()) {
      items_.reset();
      return end();
    }
    return next;
  }
  void clear() { items_.reset(); }

  iterator begin() { return items_ ? items_->begin() : none().begin(); }
  iterator end() { return items_ ? items_->end() : none().end(); }
  const_iterator begin() const { return items_ ? items_->cbegin() : none().cbegin(); }
  const_iterator end() const { return items_ ? items_->cend() : none().cend(); }

 private:
  void release_if_empty() {
    if (items_->empty()) items_.reset();
  }
  // Iterators of an empty queue: one shared empty deque (never written).
  static std::deque<T>& none() {
    static std::deque<T> empty;
    return empty;
  }

  std::unique_ptr<std::deque<T>> items_;
};

}  // namespace skein::core
