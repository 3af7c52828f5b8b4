// A per-shard cache of topic -> matching subscribers, so that a hot topic costs
// one hash lookup instead of a trie walk. Keyed on the table's generation: the
// first lookup after any subscription change empties it. When it reaches its
// size bound it is emptied too, which keeps it simple and bounds memory (a
// publish workload with more distinct hot topics than the bound just walks the
// trie, which is fast anyway).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/subscription_index.hpp"

namespace skein::core {

template <class Sub>
class MatchCache {
 public:
  explicit MatchCache(std::size_t max_entries = 4096) : max_entries_(max_entries) {}

  // The cached subscribers of `topic`, or nullptr on a miss.
  const std::vector<Sub>* find(std::string_view topic, std::uint64_t generation) {
    if (generation != generation_) {
      entries_.clear();
      generation_ = generation;
      return nullptr;
    }
    auto it = entries_.find(topic);
    return it == entries_.end() ? nullptr : &it->second;
  }

  const std::vector<Sub>& insert(std::string_view topic, std::vector<Sub> subs,
                                 std::uint64_t generation) {
    if (generation != generation_ ||
        (entries_.size() >= max_entries_ && !entries_.contains(topic))) {
      entries_.clear();
      generation_ = generation;
    }
    return entries_.insert_or_assign(std::string(topic), std::move(subs)).first->second;
  }

  void clear() { entries_.clear(); }
  std::size_t size() const { return entries_.size(); }

 private:
  std::size_t max_entries_;
  std::uint64_t generation_ = 0;
  std::unordered_map<std::string, std::vector<Sub>, detail::LevelHash, detail::LevelEqual> entries_;
};

}  // namespace skein::core
