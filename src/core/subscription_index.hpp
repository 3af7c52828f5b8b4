// The subscription index: a trie of topic levels that maps filters to
// subscribers and answers "who wants this topic?" (DESIGN.md §1, §5).
//
// Each node has a map of literal levels (a short vector while small, a hash
// map beyond), and, boxed because most nodes have none, a branch for '*' and
// a map of prefix levels ("ab*" stored under "ab"); the subscribers whose
// filter ends at the node, and the subscribers of a '>' that follows it. Matching walks
// the topic's levels once, following at most literal + star + the prefixes of
// the level at each step, so its cost grows with the topic's depth and the
// number of wildcard branches on its path, not with the number of filters.
//
// The index is single-threaded and knows nothing of shards: SubscriptionTable
// (subscription_table.hpp) makes it readable from every shard without locks.
// One index type serves the router, MQTT sessions and the mesh registry, each
// with its own subscriber type `Sub` (equality-comparable, hashable, ordered).
#pragma once

#include <algorithm>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/topic_names.hpp"

namespace skein::core {

namespace detail {
// Hash and equality that let unordered_map<std::string, ...> be searched with a
// string_view, so matching allocates nothing.
struct LevelHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};
struct LevelEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
};

// A node's children by level. Most nodes have one child or a few (a device's
// own topic, "devices/42/cmd", is a chain of single children): those are a
// small vector searched in order, 24 bytes and one allocation, where a hash
// map would cost 56 bytes, a bucket array and a node per child. Past kSmall
// children they move into a hash map, so a level with a million children
// is still found at once.
template <class Node>
class LevelMap {
 public:
  Node* find(std::string_view key) const {
    if (large_) {
      auto it = large_->find(key);
      return it == large_->end() ? nullptr : it->second.get();
    }
    for (const auto& [k, child] : small_)
      if (k == key) return child.get();
    return nullptr;
  }

  Node& get_or_add(std::string_view key) {
    if (Node* found = find(key)) return *found;
    auto child = std::make_unique<Node>();
    Node& added = *child;
    if (!large_ && small_.size() < kSmall) {
      small_.emplace_back(std::string(key), std::move(child));
      return added;
    }
    if (!large_) {
      large_ = std::make_unique<Map>();
      for (auto& [k, c] : small_) large_->emplace(std::move(k), std::move(c));
      std::vector<Entry>().swap(small_);
    }
    large_->emplace(std::string(key), std::move(child));
    return added;
  }

  void erase(std::string_view key) {
    if (large_) {
      if (auto it = large_->find(key); it != large_->end()) large_->erase(it);
      if (large_->empty()) large_.reset();
      return;
    }
    for (auto it = small_.begin(); it != small_.end(); ++it)
      if (it->first == key) {
        *it = std::move(small_.back());
        small_.pop_back();
        if (small_.empty()) std::vector<Entry>().swap(small_);
        return;
      }
  }

  bool empty() const { return small_.empty() && !large_; }

  // f(std::string_view level, const Node& child) for every child.
  template <class F>
  void for_each(F&& f) const {
    if (large_) {
      for (const auto& [k, child] : *large_) f(std::string_view(k), *child);
      return;
    }
    for (const auto& [k, child] : small_) f(std::string_view(k), *child);
  }

 private:
  static constexpr std::size_t kSmall = 8;
  using Entry = std::pair<std::string, std::unique_ptr<Node>>;
  using Map = std::unordered_map<std::string, std::unique_ptr<Node>, LevelHash, LevelEqual>;
  std::vector<Entry> small_;  // while at most kSmall children
  std::unique_ptr<Map> large_;
};
}  // namespace detail

template <class Sub>
class SubscriptionIndex {
 public:
  SubscriptionIndex() : root_(std::make_unique<Node>()) {}
  // A moved-from index holds no trie: assign to it before using it again.
  SubscriptionIndex(SubscriptionIndex&&) noexcept = default;
  SubscriptionIndex& operator=(SubscriptionIndex&&) noexcept = default;

  // Adds `sub` under `filter`, which must have passed check_filter.
  // Returns false (and changes nothing) when that pair is already present.
  bool insert(std::string_view filter, const Sub& sub) {
    Node* node = root_.get();
    bool tail = false;
    for (std::string_view level : split_levels(filter)) {
      if (level == ">") {
        tail = true;
        break;
      }
      node = &child_for_insert(*node, level);
    }
    auto& subs = tail ? node->tail_subs : node->exact_subs;
    if (std::find(subs.begin(), subs.end(), sub) != subs.end()) return false;
    subs.push_back(sub);
    ++size_;
    return true;
  }

  // Removes `sub` from `filter`; prunes nodes left empty. Returns false when
  // the pair was not present.
  bool remove(std::string_view filter, const Sub& sub) {
    auto levels = split_levels(filter);
    bool removed = remove_at(*root_, levels, 0, sub);
    if (removed) --size_;
    return removed;
  }

  // Appends to `out` every subscriber with a filter matching `topic` (a valid
  // topic), each once, in no particular order.
  void match(std::string_view topic, std::vector<Sub>& out) const {
    const std::size_t first = out.size();
    match_at(*root_, topic, /*first_level=*/true, out);
    // A subscriber with several overlapping filters appears once.
    if (out.size() - first > 1) {
      std::sort(out.begin() + first, out.end());
      out.erase(std::unique(out.begin() + first, out.end()), out.end());
    }
  }

  // Appends to `out` every subscriber with a filter that matches some topic
  // `filter` (a valid filter) also matches: whether anyone could want what
  // a pattern of topics produces. Each once, in no particular order. (It
  // errs on the side of yes for reserved topics: a wildcard pattern meets a
  // stored "$sys/..." here though no '$' topic matches a first-level wildcard.)
  void match_filter(std::string_view filter, std::vector<Sub>& out) const {
    const std::size_t first = out.size();
    const auto levels = split_levels(filter);
    overlap_at(*root_, levels, 0, out);
    if (out.size() - first > 1) {
      std::sort(out.begin() + first, out.end());
      out.erase(std::unique(out.begin() + first, out.end()), out.end());
    }
  }

  // Number of (filter, subscriber) pairs.
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

 private:
  struct Node;
  using Children = detail::LevelMap<Node>;
  // The wildcard branches of a node, boxed: most nodes have none.
  struct Wild {
    std::unique_ptr<Node> star;
    Children prefix;  // "ab*" is stored under "ab"
    // Length of the longest prefix ever stored here: matching probes prefix
    // lengths up to it only. Not lowered on removal (an upper bound suffices).
    std::size_t longest_prefix = 0;
    bool empty() const { return !star && prefix.empty(); }
  };
  struct Node {
    Children literal;
    std::unique_ptr<Wild> wild;
    std::vector<Sub> exact_subs;
    std::vector<Sub> tail_subs;  // filters that continue with a final ">"

    bool empty() const {
      return literal.empty() && !wild && exact_subs.empty() && tail_subs.empty();
    }
    Node* star() const { return wild ? wild->star.get() : nullptr; }
    Wild& wildcards() {
      if (!wild) wild = std::make_unique<Wild>();
      return *wild;
    }
    void drop_empty_wild() {
      if (wild && wild->empty()) wild.reset();
    }
  };

  static Node& child_for_insert(Node& node, std::string_view level) {
    if (level == "*") {
      Wild& w = node.wildcards();
      if (!w.star) w.star = std::make_unique<Node>();
      return *w.star;
    }
    if (level.back() == '*') {
      Wild& w = node.wildcards();
      w.longest_prefix = std::max(w.longest_prefix, level.size() - 1);
      return w.prefix.get_or_add(level.substr(0, level.size() - 1));
    }
    return node.literal.get_or_add(level);
  }

  // Recursive so that emptied nodes can be pruned on the way back up.
  bool remove_at(Node& node, const std::vector<std::string_view>& levels, std::size_t i,
                 const Sub& sub) {
    if (i == levels.size() || levels[i] == ">") {
      auto& subs = i == levels.size() ? node.exact_subs : node.tail_subs;
      auto it = std::find(subs.begin(), subs.end(), sub);
      if (it == subs.end()) return false;
      *it = std::move(subs.back());
      subs.pop_back();
      return true;
    }
    std::string_view level = levels[i];
    if (level == "*") {
      Node* star = node.star();
      if (!star || !remove_at(*star, levels, i + 1, sub)) return false;
      if (star->empty()) node.wild->star.reset();
      node.drop_empty_wild();
      return true;
    }
    bool is_prefix = level.back() == '*';
    if (is_prefix && !node.wild) return false;
    Children& map = is_prefix ? node.wild->prefix : node.literal;
    std::string_view key = is_prefix ? level.substr(0, level.size() - 1) : level;
    Node* child = map.find(key);
    if (!child || !remove_at(*child, levels, i + 1, sub)) return false;
    if (child->empty()) map.erase(key);
    node.drop_empty_wild();
    return true;
  }

  // `rest` is the part of the topic not consumed yet ("" once every level is).
  // Safe to run from several threads at once: it reads the trie and nothing else.
  static void match_at(const Node& node, std::string_view rest, bool first_level,
                       std::vector<Sub>& out) {
    if (rest.empty()) {
      out.insert(out.end(), node.exact_subs.begin(), node.exact_subs.end());
      return;
    }
    const std::size_t slash = rest.find('/');
    const std::string_view level = rest.substr(0, slash);
    const std::string_view after = slash == std::string_view::npos ? "" : rest.substr(slash + 1);
    // Wildcards at the first level never match reserved ('$') topics, as in MQTT.
    const bool wildcards_apply = !(first_level && is_reserved(level));
    // '>' needs at least one more level, and there is one.
    if (wildcards_apply) out.insert(out.end(), node.tail_subs.begin(), node.tail_subs.end());
    if (const Node* child = node.literal.find(level)) match_at(*child, after, false, out);
    if (!wildcards_apply || !node.wild) return;
    const Wild& w = *node.wild;
    if (w.star) match_at(*w.star, after, false, out);
    if (!w.prefix.empty()) {
      const std::size_t longest = std::min(level.size(), w.longest_prefix);
      for (std::size_t n = 1; n <= longest; ++n)
        if (const Node* child = w.prefix.find(level.substr(0, n)))
          match_at(*child, after, false, out);
    }
  }

  // Every subscriber in the subtree under `node` whose filter needs at least
  // one more level than `node` stands for (a pattern's final ">").
  static void collect_below(const Node& node, std::vector<Sub>& out) {
    out.insert(out.end(), node.tail_subs.begin(), node.tail_subs.end());
    auto all = [&out](const Node& child) {
      out.insert(out.end(), child.exact_subs.begin(), child.exact_subs.end());
      collect_below(child, out);
    };
    node.literal.for_each([&all](std::string_view, const Node& child) { all(child); });
    if (!node.wild) return;
    node.wild->prefix.for_each([&all](std::string_view, const Node& child) { all(child); });
    if (node.wild->star) all(*node.wild->star);
  }

  // Whether one level of a pattern and one of a stored filter can both match
  // some level: '*' matches any; "ab*" and "a*" share levels starting "ab".
  static bool levels_meet(std::string_view pattern, std::string_view key, bool key_is_prefix) {
    if (pattern == "*") return true;
    const bool pattern_is_prefix = pattern.back() == '*';
    if (pattern_is_prefix) pattern.remove_suffix(1);
    if (pattern_is_prefix && key_is_prefix)
      return pattern.starts_with(key) || key.starts_with(pattern);
    if (pattern_is_prefix) return key.starts_with(pattern);
    if (key_is_prefix) return pattern.starts_with(key);
    return pattern == key;
  }

  static void overlap_at(const Node& node, const std::vector<std::string_view>& levels,
                         std::size_t i, std::vector<Sub>& out) {
    if (i == levels.size()) {
      out.insert(out.end(), node.exact_subs.begin(), node.exact_subs.end());
      return;
    }
    const std::string_view level = levels[i];
    if (level == ">") {
      collect_below(node, out);
      return;
    }
    // A stored ">" here takes the one or more levels the pattern still has.
    out.insert(out.end(), node.tail_subs.begin(), node.tail_subs.end());
    if (const Node* star = node.star()) overlap_at(*star, levels, i + 1, out);
    const bool literal = level != "*" && level.back() != '*';
    if (literal) {
      if (const Node* child = node.literal.find(level)) overlap_at(*child, levels, i + 1, out);
    } else {
      node.literal.for_each([&](std::string_view key, const Node& child) {
        if (levels_meet(level, key, false)) overlap_at(child, levels, i + 1, out);
      });
    }
    if (!node.wild) return;
    node.wild->prefix.for_each([&](std::string_view key, const Node& child) {
      if (levels_meet(level, key, true)) overlap_at(child, levels, i + 1, out);
    });
  }

  std::unique_ptr<Node> root_;
  std::size_t size_ = 0;
};

}  // namespace skein::core
