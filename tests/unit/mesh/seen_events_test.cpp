// SeenEvents: duplicates found within the window, new incarnations start
// afresh, sparse and reordered sequences handled, old ones reported.
#include "mesh/seen_events.hpp"

#include <gtest/gtest.h>

#include <random>
#include <set>

namespace skein::mesh {
namespace {

using V = SeenEvents::Verdict;

TEST(SeenEvents, SecondCopyIsADuplicate) {
  SeenEvents s(1024);
  EXPECT_EQ(s.check("a", 1, 5), V::fresh);
  EXPECT_EQ(s.check("a", 1, 5), V::duplicate);
  EXPECT_EQ(s.check("b", 1, 5), V::fresh);  // another origin
  EXPECT_EQ(s.check("a", 1, 3), V::fresh);  // late but unseen
  EXPECT_EQ(s.check("a", 1, 3), V::duplicate);
}

TEST(SeenEvents, ANewIncarnationStartsAfreshAndOldOnesAreTooOld) {
  SeenEvents s(1024);
  EXPECT_EQ(s.check("a", 1, 100), V::fresh);
  EXPECT_EQ(s.check("a", 2, 1), V::fresh);
  EXPECT_EQ(s.check("a", 2, 1), V::duplicate);
  EXPECT_EQ(s.check("a", 1, 101), V::too_old);
}

TEST(SeenEvents, BeyondTheWindowIsTooOld) {
  SeenEvents s(128);
  EXPECT_EQ(s.check("a", 1, 1), V::fresh);
  EXPECT_EQ(s.check("a", 1, 1000), V::fresh);
  EXPECT_EQ(s.check("a", 1, 1), V::too_old);
  EXPECT_EQ(s.check("a", 1, 1000 - 127), V::fresh);
  EXPECT_EQ(s.check("a", 1, 1000 - 128), V::too_old);
}

TEST(SeenEvents, AgreesWithASetInsideTheWindow) {
  std::mt19937_64 rng(3);
  SeenEvents s(4096);
  std::set<std::uint64_t> seen;
  std::uint64_t top = 0;
  for (int i = 0; i < 200000; ++i) {
    // Mostly forward with gaps, sometimes back a little, sometimes repeats.
    std::uint64_t seq;
    const auto r = rng() % 10;
    if (r < 6 || top < 100) {
      seq = top + 1 + rng() % 50;
    } else {
      seq = top - rng() % 100;
    }
    const auto v = s.check("o", 7, seq);
    const bool was = seen.contains(seq);
    EXPECT_EQ(v, was ? V::duplicate : V::fresh) << "sequence " << seq << " top " << top;
    seen.insert(seq);
    top = std::max(top, seq);
  }
}

}  // namespace
}  // namespace skein::mesh
