// Every op's backward against central finite differences in float64 (loss = sum r * y with a fixed
// random r, so dy = r).
#include "train/ops.h"

#include "grad_check.h"

namespace kuai::train {
namespace {

using test::check_gradient;
using test::random_vec;

double weighted(const std::vector<double>& y, const std::vector<double>& r) {
  double s = 0;
  for (size_t i = 0; i < y.size(); ++i) s += y[i] * r[i];
  return s;
}

TEST(TrainOps, LinearBackward) {
  const int n = 3, in = 10, out = 7;
  const auto x = random_vec(size_t(n) * in, 1), W = random_vec(size_t(out) * in, 2), r = random_vec(size_t(n) * out, 3);
  std::vector<double> dx(x.size()), dW(W.size());
  ops::linear_bwd(dx.data(), dW.data(), r.data(), x.data(), W.data(), n, in, out);
  auto f_x = [&](const std::vector<double>& xx) {
    std::vector<double> y(size_t(n) * out);
    ops::linear_fwd(y.data(), xx.data(), W.data(), n, in, out);
    return weighted(y, r);
  };
  auto f_w = [&](const std::vector<double>& ww) {
    std::vector<double> y(size_t(n) * out);
    ops::linear_fwd(y.data(), x.data(), ww.data(), n, in, out);
    return weighted(y, r);
  };
  check_gradient(x, dx, f_x, "linear dx");
  check_gradient(W, dW, f_w, "linear dW");
}

TEST(TrainOps, RmsNormBackward) {
  const int n = 12;
  const auto x = random_vec(n, 4), w = random_vec(n, 5), r = random_vec(n, 6);
  const double eps = 1e-5;
  std::vector<double> y(n), dx(n), dw(n);
  const double rinv = ops::rmsnorm_fwd(y.data(), x.data(), w.data(), n, eps);
  ops::rmsnorm_bwd(dx.data(), dw.data(), r.data(), x.data(), w.data(), rinv, n);
  auto f = [&](const std::vector<double>& xx, const std::vector<double>& ww) {
    std::vector<double> yy(n);
    ops::rmsnorm_fwd(yy.data(), xx.data(), ww.data(), n, eps);
    return weighted(yy, r);
  };
  check_gradient(x, dx, [&](const std::vector<double>& xx) { return f(xx, w); }, "rmsnorm dx");
  check_gradient(w, dw, [&](const std::vector<double>& ww) { return f(x, ww); }, "rmsnorm dw");
}

TEST(TrainOps, RopeBackwardIsTheInverseRotation) {
  const int hd = 8, pos = 5;
  std::vector<double> inv_freq(hd / 2);
  for (int i = 0; i < hd / 2; ++i) inv_freq[size_t(i)] = 1.0 / std::pow(10000.0, 2.0 * i / hd);
  const auto x = random_vec(hd, 7), r = random_vec(hd, 8);
  std::vector<double> dx = r;
  ops::rope(dx.data(), hd, pos, inv_freq.data(), -1);
  auto f = [&](const std::vector<double>& xx) {
    std::vector<double> y = xx;
    ops::rope(y.data(), hd, pos, inv_freq.data());
    return weighted(y, r);
  };
  check_gradient(x, dx, f, "rope");
}

TEST(TrainOps, SwigluBackward) {
  const int n = 16;
  const auto g = random_vec(n, 9, 2.0), u = random_vec(n, 10), r = random_vec(n, 11);
  std::vector<double> dg(n), du(n);
  ops::swiglu_bwd(dg.data(), du.data(), r.data(), g.data(), u.data(), n);
  auto f = [&](const std::vector<double>& gg, const std::vector<double>& uu) {
    std::vector<double> y(n);
    ops::swiglu_fwd(y.data(), gg.data(), uu.data(), n);
    return weighted(y, r);
  };
  check_gradient(g, dg, [&](const std::vector<double>& gg) { return f(gg, u); }, "swiglu dgate");
  check_gradient(u, du, [&](const std::vector<double>& uu) { return f(g, uu); }, "swiglu dup");
}

TEST(TrainOps, GroupedQueryCausalAttentionBackward) {
  const ops::AttnShape a{5, 4, 2, 6};  // 5 tokens, 4 q heads sharing 2 kv heads, head_dim 6
  const size_t nq = size_t(a.n) * a.q_dim(), nkv = size_t(a.n) * a.kv_dim();
  const auto q = random_vec(nq, 12), k = random_vec(nkv, 13), v = random_vec(nkv, 14), r = random_vec(nq, 15);
  std::vector<double> out(nq), P(size_t(a.n_head) * a.n * a.n), dq(nq), dk(nkv), dv(nkv), scratch(size_t(a.n));
  ops::attention_fwd(out.data(), P.data(), q.data(), k.data(), v.data(), a);
  ops::attention_bwd(dq.data(), dk.data(), dv.data(), r.data(), P.data(), q.data(), k.data(), v.data(), a,
                     scratch.data());
  auto f = [&](const std::vector<double>& qq, const std::vector<double>& kk, const std::vector<double>& vv) {
    std::vector<double> o(nq), pp(P.size());
    ops::attention_fwd(o.data(), pp.data(), qq.data(), kk.data(), vv.data(), a);
    return weighted(o, r);
  };
  check_gradient(q, dq, [&](const std::vector<double>& x) { return f(x, k, v); }, "attention dq");
  check_gradient(k, dk, [&](const std::vector<double>& x) { return f(q, x, v); }, "attention dk");
  check_gradient(v, dv, [&](const std::vector<double>& x) { return f(q, k, x); }, "attention dv");
  // causality: the first token's output is its own v (per kv head)
  for (int d = 0; d < a.head_dim; ++d) EXPECT_NEAR(out[size_t(d)], v[size_t(d)], 1e-12);
}

}  // namespace
}  // namespace kuai::train
