#include "tools/prune_importance.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

#include "engine/gguf/gguf_file.h"
#include "engine/kernels/type_traits.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"

namespace kuai::tools {

using namespace engine::model;

double Importance::angular_distance(int first_layer, int n_layers) const {
  const double c = std::clamp(cosine(first_layer, first_layer + n_layers), -1.0, 1.0);
  return std::acos(c) / std::numbers::pi;
}

namespace {

// Per-column sum and sum of squares of an activation over every token seen.
struct ColumnStats {
  std::vector<double> sum, sumsq;
  void add(const float* rows, int n, int width) {
    if (sum.empty()) sum.assign(size_t(width), 0.0), sumsq.assign(size_t(width), 0.0);
    for (int t = 0; t < n; ++t) {
      const float* r = rows + size_t(t) * size_t(width);
      for (int j = 0; j < width; ++j) sum[size_t(j)] += r[j], sumsq[size_t(j)] += double(r[j]) * r[j];
    }
  }
};

// G += X^T X for n rows of `width` (upper triangle; mirrored by mirror_gram).
void add_gram(std::vector<double>& g, const float* rows, int n, int width) {
  const size_t w = size_t(width);
  if (g.empty()) g.assign(w * w, 0.0);
  std::vector<double> x(w);
  for (int t = 0; t < n; ++t) {
    const float* r = rows + size_t(t) * w;
    for (size_t j = 0; j < w; ++j) x[j] = r[j];
    for (size_t i = 0; i < w; ++i) {
      const double xi = x[i];
      if (xi == 0) continue;
      double* gi = g.data() + i * w;
      for (size_t j = i; j < w; ++j) gi[j] += xi * x[j];
    }
  }
}

void mirror_gram(std::vector<double>& g, int width) {
  const size_t w = size_t(width);
  for (size_t i = 0; i < w; ++i)
    for (size_t j = 0; j < i; ++j) g[i * w + j] = g[j * w + i];
}

// Collects one window's layer boundaries and every layer's column statistics (and Gram matrices).
class Collector final : public ForwardObserver {
 public:
  Collector(const Hparams& h, bool gram)
      : h_(h), gram_(gram), boundaries_(size_t(h.n_layer + 1)), attn_(size_t(h.n_layer)), ffn_(size_t(h.n_layer)),
        attn_gram_(gram ? size_t(h.n_layer) : 0), ffn_gram_(gram ? size_t(h.n_layer) : 0) {}

  void observe(Point point, int layer, const float* rows, int n, int width) override {
    switch (point) {
      case Point::kLayerInput: boundaries_[size_t(layer)].assign(rows, rows + size_t(n) * size_t(width)); break;
      case Point::kLayerOutput:
        if (layer == h_.n_layer - 1) boundaries_[size_t(layer + 1)].assign(rows, rows + size_t(n) * size_t(width));
        break;
      case Point::kAttnOutput:
        attn_[size_t(layer)].add(rows, n, width);
        if (gram_) add_gram(attn_gram_[size_t(layer)], rows, n, width);
        break;
      case Point::kFfnHidden:
        ffn_[size_t(layer)].add(rows, n, width);
        if (gram_) add_gram(ffn_gram_[size_t(layer)], rows, n, width);
        break;
    }
  }

  // Adds the cosines between every pair of boundaries of the window's n tokens.
  void add_cosines(int n, std::vector<double>& cos_sum) const {
    const int B = h_.n_layer + 1, E = h_.n_embd;
    std::vector<double> norm(static_cast<size_t>(B));
    for (int t = 0; t < n; ++t) {
      for (int i = 0; i < B; ++i) {
        const float* a = boundaries_[size_t(i)].data() + size_t(t) * size_t(E);
        double s = 0;
        for (int d = 0; d < E; ++d) s += double(a[d]) * a[d];
        norm[size_t(i)] = std::sqrt(s);
      }
      for (int i = 0; i < B; ++i) {
        const float* a = boundaries_[size_t(i)].data() + size_t(t) * size_t(E);
        for (int j = i + 1; j < B; ++j) {
          const float* b = boundaries_[size_t(j)].data() + size_t(t) * size_t(E);
          double s = 0;
          for (int d = 0; d < E; ++d) s += double(a[d]) * b[d];
          const double den = norm[size_t(i)] * norm[size_t(j)];
          cos_sum[size_t(i) * size_t(B) + size_t(j)] += den > 0 ? s / den : 1.0;
        }
      }
    }
  }

  const ColumnStats& attn(int l) const { return attn_[size_t(l)]; }
  const ColumnStats& ffn(int l) const { return ffn_[size_t(l)]; }
  // The finished Gram matrices (moved out).
  void take_grams(Importance& imp) {
    for (int l = 0; l < int(attn_gram_.size()); ++l) {
      mirror_gram(attn_gram_[size_t(l)], h_.q_dim());
      mirror_gram(ffn_gram_[size_t(l)], h_.n_ff);
    }
    imp.attn_gram = std::move(attn_gram_);
    imp.ffn_gram = std::move(ffn_gram_);
  }

 private:
  const Hparams& h_;
  bool gram_;
  std::vector<std::vector<float>> boundaries_;
  std::vector<ColumnStats> attn_, ffn_;
  std::vector<std::vector<double>> attn_gram_, ffn_gram_;
};

// Per column of a (rows, cols) weight: the L1 norm and the squared L2 norm.
struct ColumnNorms {
  std::vector<double> l1, l2sq;
};

engine::Result<ColumnNorms> column_norms(const engine::GgufFile& f, const std::string& name) {
  const engine::GgufTensor* t = f.tensor(name);
  if (!t) return engine::make_error(f.path() + ": missing tensor '" + name + "'");
  const engine::kernels::KernelTraits* k = engine::kernels::kernel_traits(t->type);
  if (!k || !k->to_float)
    return engine::make_error(f.path() + ": tensor '" + name + "': cannot read type " +
                              std::string(engine::ggml_type_name(t->type)));
  const int64_t cols = t->ne[0];
  ColumnNorms c{std::vector<double>(size_t(cols)), std::vector<double>(size_t(cols))};
  std::vector<float> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < t->n_rows(); ++r) {
    k->to_float(t->data + size_t(r) * t->row_bytes(), row.data(), cols);
    for (int64_t j = 0; j < cols; ++j) c.l1[size_t(j)] += std::fabs(double(row[size_t(j)])),
                                       c.l2sq[size_t(j)] += double(row[size_t(j)]) * row[size_t(j)];
  }
  return c;
}

// Column scores of one projection: activation (|W|_1 * ||X||_2) and fluctuation (var(X) * |W|_2^2).
void column_scores(const ColumnNorms& w, const ColumnStats& x, int64_t n_tokens, std::vector<double>& act,
                   std::vector<double>& fluct) {
  const size_t cols = w.l1.size();
  act.assign(cols, 0.0);
  fluct.assign(cols, 0.0);
  for (size_t j = 0; j < cols; ++j) {
    const double mean = x.sum[j] / double(n_tokens);
    const double var = std::max(0.0, x.sumsq[j] / double(n_tokens) - mean * mean);
    act[j] = w.l1[j] * std::sqrt(x.sumsq[j]);
    fluct[j] = var * w.l2sq[j];
  }
}

}  // namespace

engine::Result<Importance> measure_importance(const LlamaModel& model, std::span<const int32_t> tokens,
                                              const CalibOptions& opt, engine::ThreadPool& pool) {
  const Hparams& h = model.hparams();
  if (tokens.size() < 2) return engine::make_error("the calibration text has fewer than 2 tokens");
  if (opt.n_ctx < 2) return engine::make_error("calibration windows need at least 2 tokens");
  const int n_total = int(std::min<size_t>(tokens.size(), size_t(std::max(2, opt.max_tokens))));
  const int n_ctx = std::min(opt.n_ctx, h.n_ctx_train > 0 ? h.n_ctx_train : opt.n_ctx);
  Importance imp;
  imp.n_layer = h.n_layer, imp.n_head = h.n_head, imp.n_head_kv = h.n_head_kv, imp.n_ff = h.n_ff;
  const int B = h.n_layer + 1;
  std::vector<double> cos_sum(size_t(B) * size_t(B), 0.0);
  Collector col(h, opt.gram);
  ForwardState st(pool);
  st.observer = &col;
  for (int start = 0; start < n_total; start += n_ctx) {
    const int n = std::min(n_ctx, n_total - start);
    auto kv = model.make_kv_cache(n);
    SequenceKv* seqs[] = {kv.get()};
    std::vector<BatchToken> batch;
    for (int i = 0; i < n; ++i) batch.push_back({tokens[size_t(start + i)], i, 0, false});
    if (auto s = model.forward(batch, seqs, st, nullptr); !s) return std::move(s).take_error();
    col.add_cosines(n, cos_sum);
  }
  imp.n_tokens = n_total;
  if (opt.gram) col.take_grams(imp);
  imp.boundary_cos.assign(size_t(B) * size_t(B), 1.0);
  for (int i = 0; i < B; ++i)
    for (int j = i + 1; j < B; ++j)
      imp.boundary_cos[size_t(i) * size_t(B) + size_t(j)] = imp.boundary_cos[size_t(j) * size_t(B) + size_t(i)] =
          cos_sum[size_t(i) * size_t(B) + size_t(j)] / double(n_total);

  const int group = h.n_head / h.n_head_kv, group_cols = group * h.head_dim;
  imp.group_activation.assign(size_t(h.n_layer) * size_t(h.n_head_kv), 0.0);
  imp.group_fluctuation = imp.group_activation;
  imp.channel_activation.assign(size_t(h.n_layer) * size_t(h.n_ff), 0.0);
  imp.channel_fluctuation = imp.channel_activation;
  std::vector<double> act, fluct;
  for (int l = 0; l < h.n_layer; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    auto wo = column_norms(model.file(), p + "attn_output.weight");
    if (!wo) return std::move(wo).take_error();
    column_scores(*wo, col.attn(l), n_total, act, fluct);
    for (int c = 0; c < h.q_dim(); ++c) {
      const size_t g = size_t(l) * size_t(h.n_head_kv) + size_t(c / group_cols);
      imp.group_activation[g] += act[size_t(c)];
      imp.group_fluctuation[g] += fluct[size_t(c)];
    }
    auto down = column_norms(model.file(), p + "ffn_down.weight");
    if (!down) return std::move(down).take_error();
    column_scores(*down, col.ffn(l), n_total, act, fluct);
    std::copy(act.begin(), act.end(), imp.channel_activation.begin() + ptrdiff_t(l) * h.n_ff);
    std::copy(fluct.begin(), fluct.end(), imp.channel_fluctuation.begin() + ptrdiff_t(l) * h.n_ff);
  }
  return imp;
}

}  // namespace kuai::tools
