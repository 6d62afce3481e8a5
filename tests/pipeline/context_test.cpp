// Context::stage_state: a typed slot per stage that dies with the request.
#include "pipeline/context.h"

#include <gtest/gtest.h>

namespace kuai::pipeline {
namespace {

struct Counted {
  explicit Counted(int& alive, int v) : alive_(alive), value(v) { ++alive_; }
  ~Counted() { --alive_; }
  int& alive_;
  int value;
};

TEST(StageStateTest, OneTypedSlotPerStageDestroyedWithTheContext) {
  int alive = 0;
  int stage_a = 0, stage_b = 0;  // any object address names a stage
  {
    Context ctx;
    EXPECT_EQ(ctx.stage_state.find<Counted>(&stage_a), nullptr);
    ctx.stage_state.emplace<Counted>(&stage_a, alive, 1);
    ctx.stage_state.emplace<std::string>(&stage_b, "b's");
    EXPECT_EQ(alive, 1);
    ASSERT_NE(ctx.stage_state.find<Counted>(&stage_a), nullptr);
    EXPECT_EQ(ctx.stage_state.find<Counted>(&stage_a)->value, 1);
    EXPECT_EQ(*ctx.stage_state.find<std::string>(&stage_b), "b's");
    EXPECT_EQ(ctx.stage_state.find<std::string>(&stage_a), nullptr);  // another type: nothing
    ctx.stage_state.emplace<Counted>(&stage_a, alive, 2);  // replaces
    EXPECT_EQ(alive, 1);
    EXPECT_EQ(ctx.stage_state.find<Counted>(&stage_a)->value, 2);
    ctx.stage_state.erase(&stage_b);
    EXPECT_EQ(ctx.stage_state.find<std::string>(&stage_b), nullptr);
    Context moved = std::move(ctx);
    EXPECT_EQ(moved.stage_state.find<Counted>(&stage_a)->value, 2);
    EXPECT_EQ(alive, 1);
  }
  EXPECT_EQ(alive, 0);  // the request ended: its state with it, no expiry needed
}

}  // namespace
}  // namespace kuai::pipeline
