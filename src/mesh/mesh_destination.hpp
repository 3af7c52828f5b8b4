// MeshDestination: how the router hands the mesh the events other nodes want
// (DESIGN.md §8: "the mesh talks to the router like any other destination").
// It is subscribed under every remote filter and lives on the mesh's shard.
// It is persistent: a persistent event's receipt waits for it, and it answers
// once the engine has put the event in every next hop's outbox (the outboxes
// answer for themselves, so this destination's own answer never counts as a
// store). Events that came over a link are left alone: the engine forwarded
// them on arrival.
#pragma once

#include <functional>

#include "core/destination.hpp"

namespace skein::mesh {

class MeshDestination : public core::Destination {
 public:
  // `drain` runs on the home shard, posted after events arrive in an empty queue.
  MeshDestination(unsigned home_shard, std::size_t capacity, std::function<void()> schedule_drain)
      : core::Destination(home_shard, capacity, core::SlowPolicy::drop_oldest),
        schedule_drain_(std::move(schedule_drain)) {}

  bool persistent() const override { return true; }

 protected:
  void wake() override {
    if (scheduled_) return;
    scheduled_ = true;
    schedule_drain_();
  }

 public:
  // Called by the drain before taking events: the next wake schedules again.
  void drained() { scheduled_ = false; }

 private:
  std::function<void()> schedule_drain_;
  bool scheduled_ = false;
};

}  // namespace skein::mesh
