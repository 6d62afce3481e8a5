// Central finite differences in float64 against an analytic gradient.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <vector>

namespace kuai::train::test {

inline std::vector<double> random_vec(size_t n, uint64_t seed, double scale = 1.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, scale);
  std::vector<double> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// f(x) -> loss; grad: the analytic d loss / dx at x. Checks every coordinate (or `max_checks` spread
// over x) with step h: |analytic - numeric| <= tol * max(1, |numeric|).
inline void check_gradient(std::vector<double> x, const std::vector<double>& grad,
                           const std::function<double(const std::vector<double>&)>& f, const char* what,
                           double tol = 1e-6, double h = 1e-5, size_t max_checks = 400) {
  ASSERT_EQ(x.size(), grad.size());
  const size_t stride = std::max<size_t>(1, x.size() / max_checks);
  double worst = 0;
  for (size_t i = 0; i < x.size(); i += stride) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = f(x);
    x[i] = keep - h;
    const double down = f(x);
    x[i] = keep;
    const double numeric = (up - down) / (2 * h);
    const double err = std::abs(grad[i] - numeric) / std::max(1.0, std::abs(numeric));
    worst = std::max(worst, err);
    ASSERT_LE(err, tol) << what << ": coordinate " << i << " analytic " << grad[i] << " numeric " << numeric;
  }
  ::testing::Test::RecordProperty(std::string(what) + "_worst_rel_err", std::to_string(worst));
}

}  // namespace kuai::train::test
