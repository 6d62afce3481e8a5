// First-order Taylor importance of KV groups and FFN channels (prune_importance.h), with the training
// core's backward pass (train/model.h) on the calibration text's next-token cross-entropy.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/gguf/gguf_file.h"
#include "tools/prune_importance.h"
#include "train/loss.h"
#include "train/model.h"
#include "train/params.h"

namespace kuai::tools {

engine::Status add_taylor_importance(const engine::GgufFile& file, std::span<const int32_t> tokens,
                                     const CalibOptions& opt, Importance& imp) {
  auto params = train::read_params(file);
  if (!params) return std::move(params).take_error();
  const train::ModelConfig& c = params->config;
  if (c.n_layer != imp.n_layer || c.n_head_kv != imp.n_head_kv || c.n_ff != imp.n_ff)
    return engine::make_error("the Taylor measure read a model of another shape than the calibration pass");
  const train::Model<float> model(c);
  const float* w = params->data.data();
  std::vector<float> grads(params->data.size(), 0.0f);
  train::Activations<float> act;
  const int V = c.n_vocab, window = std::max(1, std::min(opt.n_ctx, c.n_ctx));
  const size_t used = std::min(tokens.size(), size_t(std::max(2, opt.max_tokens)));
  const float scale = 1.0f / float(std::max<size_t>(1, used - 1));  // the mean loss over every target
  std::vector<float> dlogits;
  for (size_t start = 0; start + 1 < used; start += size_t(window)) {
    const int n = int(std::min<size_t>(size_t(window), used - 1 - start));
    model.forward(w, tokens.data() + start, n, act);
    dlogits.assign(size_t(n) * size_t(V), 0.0f);
    for (int t = 0; t < n; ++t)
      train::cross_entropy(act.logits.data() + size_t(t) * size_t(V), tokens[start + size_t(t) + 1], V,
                           dlogits.data() + size_t(t) * size_t(V), scale);
    model.backward(w, grads.data(), tokens.data() + start, dlogits.data(), act);
  }

  // sum |w * g| over rows [r0, r0 + n) (cols wide) or over columns [c0, c0 + n) of every row
  auto rows = [&](size_t off, int64_t cols, int64_t r0, int64_t n) {
    double s = 0;
    for (int64_t i = r0 * cols; i < (r0 + n) * cols; ++i) s += std::fabs(double(w[off + size_t(i)]) * grads[off + size_t(i)]);
    return s;
  };
  auto columns = [&](size_t off, int64_t n_rows, int64_t cols, int64_t c0, int64_t n) {
    double s = 0;
    for (int64_t r = 0; r < n_rows; ++r)
      for (int64_t j = c0; j < c0 + n; ++j) {
        const size_t i = off + size_t(r * cols + j);
        s += std::fabs(double(w[i]) * grads[i]);
      }
    return s;
  };
  const train::Layout& lay = model.layout();
  const int64_t E = c.n_embd, hd = c.head_dim(), Q = c.q_dim(), F = c.n_ff;
  const int group = c.n_head / c.n_head_kv;
  imp.group_taylor.assign(size_t(c.n_layer) * size_t(c.n_head_kv), 0.0);
  imp.channel_taylor.assign(size_t(c.n_layer) * size_t(F), 0.0);
  for (int l = 0; l < c.n_layer; ++l) {
    const train::LayerOffsets& L = lay.layers[size_t(l)];
    for (int g = 0; g < c.n_head_kv; ++g) {
      const int64_t q0 = int64_t(g) * group * hd, nq = int64_t(group) * hd;  // the group's query heads
      imp.group_taylor[size_t(l) * size_t(c.n_head_kv) + size_t(g)] =
          rows(L.wq, E, q0, nq) + rows(L.wk, E, int64_t(g) * hd, hd) + rows(L.wv, E, int64_t(g) * hd, hd) +
          columns(L.wo, E, Q, q0, nq);
    }
    for (int64_t ch = 0; ch < F; ++ch)
      imp.channel_taylor[size_t(l) * size_t(F) + size_t(ch)] =
          rows(L.gate, E, ch, 1) + rows(L.up, E, ch, 1) + columns(L.down, E, F, ch, 1);
  }
  return engine::Ok{};
}

}  // namespace kuai::tools
