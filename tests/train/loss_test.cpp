// Cross-entropy and the four distillation divergences: value and gradient against float64 finite
// differences, at temperatures 1 and 2.
#include "train/loss.h"

#include <numeric>

#include "grad_check.h"

namespace kuai::train {
namespace {

using test::check_gradient;
using test::random_vec;

std::vector<double> softmax(const std::vector<double>& z) {
  std::vector<double> p(z.size());
  const double mx = *std::max_element(z.begin(), z.end());
  double s = 0;
  for (size_t i = 0; i < z.size(); ++i) s += (p[i] = std::exp(z[i] - mx));
  for (auto& x : p) x /= s;
  return p;
}

TEST(TrainLoss, CrossEntropyValueAndGradient) {
  const auto z = random_vec(11, 1, 2.0);
  std::vector<double> g(z.size());
  const double l = cross_entropy(z.data(), 4, int(z.size()), g.data(), 1.0);
  EXPECT_NEAR(l, -std::log(softmax(z)[4]), 1e-12);
  std::vector<double> scratch(z.size());
  check_gradient(z, g, [&](const std::vector<double>& zz) {
    return cross_entropy(zz.data(), 4, int(zz.size()), scratch.data(), 0.0);
  }, "cross-entropy");
}

TEST(TrainLoss, DivergencesValueAndGradient) {
  const int n = 9;
  const auto p = softmax(random_vec(n, 2, 1.5));
  for (Divergence d : {Divergence::kKl, Divergence::kReverseKl, Divergence::kSkewKl, Divergence::kJsd}) {
    for (double t : {1.0, 2.0}) {
      const auto z = random_vec(n, 3, 2.0);
      std::vector<double> g(n), scratch(n);
      const double l = divergence(d, p.data(), z.data(), n, t, g.data(), 1.0);
      EXPECT_GT(l, 0.0) << divergence_name(d);
      check_gradient(z, g, [&](const std::vector<double>& zz) {
        return divergence(d, p.data(), zz.data(), n, t, scratch.data(), 0.0);
      }, divergence_name(d));
      // D(p || p) = 0 with a zero gradient
      std::vector<double> zp(n), gp(n);
      for (int i = 0; i < n; ++i) zp[size_t(i)] = std::log(p[size_t(i)]) * t;
      EXPECT_NEAR(divergence(d, p.data(), zp.data(), n, t, gp.data(), 1.0), 0.0, 1e-12) << divergence_name(d);
      for (double x : gp) EXPECT_NEAR(x, 0.0, 1e-12) << divergence_name(d);
    }
  }
  // forward KL by its definition
  const auto z = random_vec(n, 4);
  const auto q = softmax(z);
  double kl = 0;
  for (int i = 0; i < n; ++i) kl += p[size_t(i)] * std::log(p[size_t(i)] / q[size_t(i)]);
  std::vector<double> g(n);
  EXPECT_NEAR(divergence(Divergence::kKl, p.data(), z.data(), n, 1.0, g.data(), 1.0), kl, 1e-12);
  EXPECT_FALSE(parse_divergence("kld").ok());
}

}  // namespace
}  // namespace kuai::train
