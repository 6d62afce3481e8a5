// The teacher's distribution at a temperature, and its top-k form (the k most likely tokens keep their
// probability, the rest of the mass is spread evenly).
#include "train/teacher.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

namespace kuai::train {
namespace {

TEST(TrainTeacher, TemperatureAndTopK) {
  const std::vector<float> z = {2.0f, 0.5f, -1.0f, 3.0f, 0.0f, 1.0f};
  std::vector<float> full = z, t2 = z, k2 = z;
  teacher_distribution(full.data(), 6, 1.0f, 0);
  teacher_distribution(t2.data(), 6, 2.0f, 0);
  teacher_distribution(k2.data(), 6, 1.0f, 2);
  double sum = 0;
  for (float p : full) sum += p;
  EXPECT_NEAR(sum, 1.0, 1e-6);
  EXPECT_NEAR(full[3] / full[0], std::exp(1.0), 1e-5);
  EXPECT_NEAR(t2[3] / t2[0], std::exp(0.5), 1e-5);  // logits divided by T
  EXPECT_FLOAT_EQ(k2[3], full[3]);                   // the top 2 keep their probability
  EXPECT_FLOAT_EQ(k2[0], full[0]);
  const float rest = (1.0f - full[3] - full[0]) / 4;
  for (int i : {1, 2, 4, 5}) EXPECT_NEAR(k2[size_t(i)], rest, 1e-7);
  EXPECT_NEAR(std::accumulate(k2.begin(), k2.end(), 0.0), 1.0, 1e-6);
}

}  // namespace
}  // namespace kuai::train
