#include "flows/run_store.h"

#include <gtest/gtest.h>

namespace kuai::flows {
namespace {

TEST(FlowRunStore, KeepsTheNewestRuns) {
  RunStore s(2);
  s.put("a", "1");
  s.put("b", "2");
  s.put("c", "3");
  EXPECT_EQ(s.size(), 2u);
  EXPECT_FALSE(s.get("a"));
  EXPECT_EQ(*s.get("c"), "3");
  s.set_capacity(1);
  EXPECT_FALSE(s.get("b"));
  RunStore none(0);
  none.put("x", "y");
  EXPECT_FALSE(none.get("x"));
}

}  // namespace
}  // namespace kuai::flows
