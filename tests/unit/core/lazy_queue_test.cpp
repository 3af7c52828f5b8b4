// LazyQueue: a FIFO that holds no memory while empty (core/lazy_queue.hpp).
#include "core/lazy_queue.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace skein::core {
namespace {

TEST(LazyQueue, IsAFifo) {
  LazyQueue<std::string> q;
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.begin(), q.end());
  q.push_back("a");
  q.push_back("b");
  q.push_back("c");
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.front(), "a");
  EXPECT_EQ(q.back(), "c");
  q.pop_front();
  EXPECT_EQ(q.front(), "b");
  std::vector<std::string> seen(q.begin(), q.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"b", "c"}));
}

TEST(LazyQueue, EraseKeepsOrderAndEmptiesCleanly) {
  LazyQueue<int> q;
  for (int i = 0; i < 5; ++i) q.push_back(i);
  for (auto it = q.begin(); it != q.end();) it = (*it % 2 == 0) ? q.erase(it) : std::next(it);
  EXPECT_EQ(std::vector<int>(q.begin(), q.end()), (std::vector<int>{1, 3}));
  auto it = q.erase(q.begin());
  EXPECT_EQ(*it, 3);
  it = q.erase(it);
  EXPECT_EQ(it, q.end());  // the last erase releases the deque: end() of the empty queue
  EXPECT_TRUE(q.empty());
  q.push_back(7);  // usable again after it released its memory
  EXPECT_EQ(q.front(), 7);
  q.clear();
  EXPECT_EQ(q.size(), 0u);
}

}  // namespace
}  // namespace skein::core
