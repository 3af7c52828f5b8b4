// Cross-shard event hand-off in batches.
#include "runtime/shard_mailbox.hpp"

#include <boost/asio/post.hpp>

namespace skein::runtime {

ShardMailboxes::ShardMailboxes(ShardPool& pool, core::Router& router)
    : pool_(pool), router_(router) {
  const unsigned n = pool.size();
  for (unsigned i = 0; i < n * n; ++i) boxes_.push_back(std::make_unique<Mailbox>());
}

void ShardMailboxes::send(unsigned from_shard, core::DestinationPtr destination,
                          core::EventPtr event) {
  const unsigned to_shard = destination->home_shard();
  Mailbox& mailbox = box(from_shard, to_shard);
  bool post_drain = false;
  {
    std::lock_guard lock(mailbox.mutex);
    mailbox.incoming.emplace_back(std::move(destination), std::move(event));
    post_drain = !mailbox.drain_posted;
    mailbox.drain_posted = true;
  }
  if (post_drain) {
    boost::asio::post(pool_.executor(to_shard),
                      [this, from_shard, to_shard] { drain(from_shard, to_shard); });
  }
}

void ShardMailboxes::drain(unsigned from_shard, unsigned to_shard) {
  Mailbox& mailbox = box(from_shard, to_shard);
  {
    std::lock_guard lock(mailbox.mutex);
    mailbox.draining.swap(mailbox.incoming);
    mailbox.drain_posted = false;
  }
  for (auto& [destination, event] : mailbox.draining)
    router_.deliver_local(to_shard, *destination, std::move(event));
  mailbox.draining.clear();
}

}  // namespace skein::runtime
