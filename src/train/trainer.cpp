#include "train/trainer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <optional>
#include <random>
#include <sstream>
#include <unistd.h>

#include "engine/threads/thread_pool.h"
#include "train/checkpoint.h"
#include "train/model.h"
#include "train/teacher.h"

namespace kuai::train {

int64_t Corpus::n_tokens() const {
  int64_t n = 0;
  for (const auto& s : seqs) n += int64_t(s.size());
  return n;
}

namespace {

using Clock = std::chrono::steady_clock;

struct Window {
  const int32_t* tokens;
  int len;  // tokens in the window (inputs len - 1, targets len - 1)
  bool on_policy = false;  // continued by the student: divergence only
};

// The windows of one micro-batch: a function of (seed, step, micro) only.
std::vector<Window> pick_windows(const Corpus& data, const TrainOptions& opt, int64_t step, int micro) {
  std::mt19937_64 rng(opt.seed * 0x9e3779b97f4a7c15ull ^ (uint64_t(step) << 20) ^ uint64_t(micro));
  std::vector<Window> w;
  for (int b = 0; b < opt.batch; ++b) {
    const auto& s = data.seqs[size_t(rng() % data.seqs.size())];
    const int len = std::min<int>(int(s.size()), opt.seq_len + 1);
    const int start = int(rng() % uint64_t(int(s.size()) - len + 1));
    w.push_back({s.data() + start, len, false});
  }
  return w;
}

std::string fingerprint(const Params& p, const TrainOptions& o, const DistillOptions* d) {
  std::ostringstream s;
  s << p.config.describe() << ";steps=" << o.steps << ",batch=" << o.batch << ",seq=" << o.seq_len << ",accum=" << o.accum
    << ",seed=" << o.seed << ",lr=" << o.adamw.lr << ",wd=" << o.adamw.weight_decay << ",warmup=" << o.adamw.warmup;
  if (d)
    s << ";loss=" << divergence_name(d->loss) << ",T=" << d->temperature << ",alpha=" << d->alpha << ",top_k=" << d->top_k
      << ",on_policy=" << d->on_policy << ",hidden=" << d->hidden;
  return s.str();
}

// Per chunk of a micro-batch: activations, gradients, loss sums.
// An engine copy of the student's current weights (through a temporary GGUF, unlinked once mapped),
// to sample on-policy continuations with the engine's KV cache.
engine::Result<std::unique_ptr<engine::model::LlamaModel>> engine_copy(const Params& p) {
  static std::atomic<int> counter{0};
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("kuai_gkd_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".gguf"))
                               .string();
  if (auto st = write_model(path, p, nullptr, "kuai-gkd-student"); !st) return std::move(st).take_error();
  auto m = engine::model::LlamaModel::load(path);
  std::error_code ec;
  std::filesystem::remove(path, ec);
  return m;
}

struct Chunk {
  Activations<float> act;
  std::vector<float> grad, dlogits;
  double loss = 0, ce = 0, kd = 0, hidden = 0;
  Activations<float> teacher;  // hidden-state distillation: the teacher's forward of the same window
  std::vector<float> dresid;   // and its loss's gradient on the student's residual stream
};

// The hidden-state loss of one window (DistillOptions::hidden), summed over its positions; dresid
// ((n_layer + 1, n, E); row 0 stays 0) gets its gradient times `scale` (the objective is a mean).
double hidden_state_loss(const Activations<float>& student, const Activations<float>& teacher, int n_layer, int n,
                         int E, float weight, float scale, std::vector<float>& dresid) {
  const size_t nE = size_t(n) * E;
  dresid.assign(size_t(n_layer + 1) * nE, 0.0f);
  double loss = 0;
  for (int l = 1; l <= n_layer; ++l) {
    const float* xs = student.x.data() + size_t(l) * nE;
    const float* xt = teacher.x.data() + size_t(l) * nE;
    double ms = 0;
    for (size_t i = 0; i < nE; ++i) ms += double(xt[i]) * xt[i];
    ms = std::max(ms / double(nE), 1e-12);
    // per position: weight / n_layer * sum_e (xs - xt)^2 / (E * ms)
    const double k = double(weight) / (double(n_layer) * double(E) * ms);
    float* d = dresid.data() + size_t(l) * nE;
    for (size_t i = 0; i < nE; ++i) {
      const double diff = double(xs[i]) - double(xt[i]);
      loss += k * diff * diff;
      d[i] = float(2.0 * k * diff * double(scale));
    }
  }
  return loss;
}

engine::Result<TrainResult> run(const engine::model::LlamaModel* teacher_model, Params& p, const Corpus& data,
                                const TrainOptions& opt, const DistillOptions* dopt, engine::ThreadPool& pool,
                                const StepCallback& on_step) {
  const ModelConfig& c = p.config;
  if (auto st = c.check(); !st) return std::move(st).take_error();
  if (opt.steps <= 0 || opt.batch <= 0 || opt.accum <= 0 || opt.seq_len <= 0)
    return engine::make_error("steps, batch, accum and seq-len must be positive");
  if (opt.seq_len > c.n_ctx)
    return engine::make_error("seq-len " + std::to_string(opt.seq_len) + " exceeds the model's context " +
                              std::to_string(c.n_ctx));
  Corpus usable;
  for (const auto& s : data.seqs)
    if (s.size() >= 2) usable.seqs.push_back(s);
  if (usable.seqs.empty()) return engine::make_error("the corpus has no sequence of 2 tokens or more");
  for (const auto& s : usable.seqs)
    for (int32_t t : s)
      if (t < 0 || t >= c.n_vocab) return engine::make_error("corpus token id " + std::to_string(t) + " outside the vocabulary");
  if (teacher_model && teacher_model->hparams().n_vocab != c.n_vocab)
    return engine::make_error("the teacher's vocabulary has " + std::to_string(teacher_model->hparams().n_vocab) +
                              " tokens, the student's " + std::to_string(c.n_vocab) + "; they must share one");
  if (dopt && (!(dopt->temperature > 0) || dopt->alpha < 0 || dopt->alpha > 1 || dopt->on_policy < 0 ||
               dopt->on_policy > 1))
    return engine::make_error("temperature must be positive, alpha and on-policy in [0, 1]");
  const bool hidden = dopt && dopt->hidden > 0;
  if (dopt && (dopt->hidden < 0 || !std::isfinite(dopt->hidden)))
    return engine::make_error("the hidden-state weight must be 0 or positive");
  if (hidden) {
    const Params* tp = dopt->hidden_teacher;
    if (!tp) return engine::make_error("hidden-state distillation needs the teacher's weights");
    if (tp->config.n_layer != c.n_layer || tp->config.n_embd != c.n_embd)
      return engine::make_error("hidden-state distillation needs a student with the teacher's layers and width (" +
                                std::to_string(tp->config.n_layer) + " x " + std::to_string(tp->config.n_embd) +
                                "; the student has " + std::to_string(c.n_layer) + " x " + std::to_string(c.n_embd) + ")");
  }
  const std::optional<Model<float>> teacher_net =
      hidden ? std::optional<Model<float>>(dopt->hidden_teacher->config) : std::nullopt;

  const Model<float> model(c);
  const int V = c.n_vocab;
  const std::string fp = fingerprint(p, opt, dopt);
  AdamW adam(opt.adamw, decay_mask(c));
  int64_t start_step = 0;
  std::string last_good = "none";
  if (opt.resume) {
    if (opt.checkpoint_path.empty()) return engine::make_error("--resume needs a checkpoint path");
    if (!std::filesystem::exists(opt.checkpoint_path))
      return engine::make_error("no checkpoint at " + opt.checkpoint_path + " to resume from");
    auto ck = load_checkpoint(opt.checkpoint_path);
    if (!ck) return std::move(ck).take_error();
    if (ck->fingerprint != fp)
      return engine::make_error(opt.checkpoint_path + " is from a run with other options (" + ck->fingerprint + ")");
    p.data = std::move(ck->params.data);
    adam.m = std::move(ck->m);
    adam.v = std::move(ck->v);
    adam.t = ck->adam_t;
    start_step = ck->step;
    last_good = opt.checkpoint_path + " (step " + std::to_string(start_step) + ")";
  }
  std::unique_ptr<Teacher> teacher;
  if (teacher_model) teacher = std::make_unique<Teacher>(*teacher_model, pool);

  const int n_chunks = pool.size();
  std::vector<Chunk> chunks(static_cast<size_t>(n_chunks));
  for (auto& ch : chunks) ch.grad.assign(p.data.size(), 0.0f);
  std::vector<float> grad(p.data.size());
  std::vector<std::vector<float>> tprobs(static_cast<size_t>(opt.batch));
  TrainResult result;
  const auto t0 = Clock::now();
  auto checkpoint = [&](int64_t step) -> engine::Status {
    if (opt.checkpoint_path.empty()) return engine::Ok{};
    if (auto st = save_checkpoint(opt.checkpoint_path, p, adam, step, fp, opt.tokenizer); !st) return st;
    last_good = opt.checkpoint_path + " (step " + std::to_string(step) + ")";
    return engine::Ok{};
  };

  for (int64_t step = start_step; step < opt.steps; ++step) {
    if (opt.stop && opt.stop->load()) {
      if (auto st = checkpoint(step); !st) return std::move(st).take_error();
      return engine::make_error("stopped at step " + std::to_string(step) + "; last checkpoint: " + last_good);
    }
    std::vector<std::vector<Window>> micro(size_t(opt.accum));
    int64_t positions = 0;
    std::unique_ptr<engine::model::LlamaModel> student_copy;
    std::vector<std::vector<int32_t>> sampled;
    sampled.reserve(size_t(opt.accum) * size_t(opt.batch));  // windows point into it
    for (int m = 0; m < opt.accum; ++m) {
      micro[size_t(m)] = pick_windows(usable, opt, step, m);
      if (dopt && dopt->on_policy > 0) {
        std::mt19937_64 rng(opt.seed ^ 0x5851f42d4c957f2dull ^ (uint64_t(step) << 24) ^ (uint64_t(m) << 8));
        for (Window& w : micro[size_t(m)]) {
          const bool take = double(rng() >> 11) * 0x1.0p-53 < dopt->on_policy;
          const uint64_t seed = rng();
          if (!take || w.len < 3) continue;
          if (!student_copy) {
            auto sc = engine_copy(p);
            if (!sc) return std::move(sc).take_error();
            student_copy = std::move(sc).value();
          }
          Teacher sampler(*student_copy, pool);
          auto s = sampler.sample(std::span(w.tokens, size_t(std::max(1, (w.len - 1) / 2))), w.len, seed, dopt->stop_token);
          if (!s) return std::move(s).take_error();
          sampled.push_back(std::move(s).value());
          w = Window{sampled.back().data(), int(sampled.back().size()), true};
        }
      }
      for (const Window& w : micro[size_t(m)]) positions += w.len - 1;
    }
    const float scale = 1.0f / float(positions);
    for (auto& ch : chunks) ch.loss = ch.ce = ch.kd = ch.hidden = 0;
    for (int m = 0; m < opt.accum; ++m) {
      const auto& windows = micro[size_t(m)];
      if (teacher) {
        for (size_t b = 0; b < windows.size(); ++b) {
          tprobs[b].resize(size_t(windows[b].len - 1) * V);
          if (auto st = teacher->probs(windows[b].tokens, windows[b].len - 1, dopt->temperature, dopt->top_k,
                                       tprobs[b].data());
              !st)
            return std::move(st).take_error();
        }
      }
      pool.parallel_for(n_chunks, 1, [&](int64_t cb, int64_t ce_, int) {
        for (int64_t ci = cb; ci < ce_; ++ci) {
          Chunk& ch = chunks[size_t(ci)];
          const size_t b0 = windows.size() * size_t(ci) / size_t(n_chunks);
          const size_t b1 = windows.size() * size_t(ci + 1) / size_t(n_chunks);
          for (size_t b = b0; b < b1; ++b) {
            const Window& w = windows[b];
            const int n = w.len - 1;
            model.forward(p.data.data(), w.tokens, n, ch.act);
            ch.dlogits.assign(size_t(n) * V, 0.0f);
            for (int t = 0; t < n; ++t) {
              const float* z = ch.act.logits.data() + size_t(t) * V;
              float* dz = ch.dlogits.data() + size_t(t) * V;
              if (dopt) {
                const float T = dopt->temperature, a = w.on_policy ? 1.0f : dopt->alpha;
                const double kd = divergence(dopt->loss, tprobs[b].data() + size_t(t) * V, z, V, T, dz, scale * a * T * T);
                const double ce = a < 1 ? cross_entropy(z, w.tokens[t + 1], V, dz, scale * (1 - a)) : 0.0;
                ch.kd += kd;
                ch.ce += ce;
                ch.loss += double(a) * T * T * kd + double(1 - a) * ce;
              } else {
                const double ce = cross_entropy(z, w.tokens[t + 1], V, dz, scale);
                ch.ce += ce;
                ch.loss += ce;
              }
            }
            if (hidden) {
              teacher_net->forward(dopt->hidden_teacher->data.data(), w.tokens, n, ch.teacher);
              const double h = hidden_state_loss(ch.act, ch.teacher, c.n_layer, n, c.n_embd, dopt->hidden, scale,
                                                 ch.dresid);
              ch.hidden += h;
              ch.loss += h;
            }
            model.backward(p.data.data(), ch.grad.data(), w.tokens, ch.dlogits.data(), ch.act,
                           hidden ? ch.dresid.data() : nullptr);
          }
        }
      });
    }
    std::fill(grad.begin(), grad.end(), 0.0f);
    StepInfo info;
    for (auto& ch : chunks) {
      for (size_t i = 0; i < grad.size(); ++i) grad[i] += ch.grad[i];
      std::fill(ch.grad.begin(), ch.grad.end(), 0.0f);
      info.loss += ch.loss;
      info.ce += ch.ce;
      info.kd += ch.kd;
      info.hidden += ch.hidden;
    }
    info.loss /= double(positions);
    info.ce /= double(positions);
    info.kd /= double(positions);
    info.hidden /= double(positions);
    info.grad_norm = clip_grad_norm(grad.data(), grad.size(), opt.adamw.clip);
    if (!std::isfinite(info.loss) || !std::isfinite(info.grad_norm))
      return engine::make_error("the loss became " + std::string(std::isnan(info.loss) ? "NaN" : "non-finite") +
                                " at step " + std::to_string(step + 1) + "; nothing written past the last good checkpoint: " +
                                last_good + " (try a lower --lr)");
    info.lr = lr_at(opt.adamw, int(step), opt.steps);
    adam.step(p.data.data(), grad.data(), info.lr);
    result.losses.push_back(info.loss);
    result.tokens += positions;
    result.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    info.step = int(step + 1);
    info.steps = opt.steps;
    info.elapsed_s = result.seconds;
    info.tokens_per_s = result.tokens_per_s();
    info.eta_s = result.seconds / double(step + 1 - start_step) * double(opt.steps - step - 1);
    if (on_step) on_step(info);
    if (opt.checkpoint_every > 0 && (step + 1) % opt.checkpoint_every == 0 && step + 1 < opt.steps)
      if (auto st = checkpoint(step + 1); !st) return std::move(st).take_error();
  }
  if (auto st = checkpoint(opt.steps); !st) return std::move(st).take_error();
  return result;
}

}  // namespace

engine::Result<TrainResult> train(Params& p, const Corpus& data, const TrainOptions& opt, engine::ThreadPool& pool,
                                  const StepCallback& on_step) {
  return run(nullptr, p, data, opt, nullptr, pool, on_step);
}

engine::Result<TrainResult> distill(const engine::model::LlamaModel& teacher, Params& p, const Corpus& data,
                                    const TrainOptions& opt, const DistillOptions& dopt, engine::ThreadPool& pool,
                                    const StepCallback& on_step) {
  return run(&teacher, p, data, opt, &dopt, pool, on_step);
}

engine::Result<EvalResult> evaluate(const Params& p, const Corpus& data, const engine::model::LlamaModel* teacher_model,
                                    engine::ThreadPool& pool) {
  const ModelConfig& c = p.config;
  const int V = c.n_vocab;
  if (teacher_model && teacher_model->hparams().n_vocab != V)
    return engine::make_error("teacher and student vocabularies differ");
  const Model<float> model(c);
  std::unique_ptr<Teacher> teacher;
  if (teacher_model) teacher = std::make_unique<Teacher>(*teacher_model, pool);
  Activations<float> act;
  std::vector<float> tl, scratch(static_cast<size_t>(V));
  double nll = 0, kl = 0;
  int64_t agree = 0;
  EvalResult r;
  for (const auto& s : data.seqs) {
    const int n = std::min<int>(int(s.size()), c.n_ctx + 1) - 1;
    if (n <= 0) continue;
    model.forward(p.data.data(), s.data(), n, act);
    if (teacher) {
      tl.resize(size_t(n) * V);
      if (auto st = teacher->logits(s.data(), n, tl.data()); !st) return std::move(st).take_error();
    }
    for (int t = 0; t < n; ++t) {
      const float* z = act.logits.data() + size_t(t) * V;
      nll += cross_entropy(z, s[size_t(t) + 1], V, scratch.data(), 0.0f);
      if (teacher) {
        float* tz = tl.data() + size_t(t) * V;
        agree += std::max_element(z, z + V) - z == std::max_element(tz, tz + V) - tz;
        teacher_distribution(tz, V, 1.0f, 0);
        kl += divergence(Divergence::kKl, tz, z, V, 1.0f, scratch.data(), 0.0f);
      }
      ++r.positions;
    }
  }
  if (r.positions == 0) return engine::make_error("nothing to evaluate (no sequence of 2 tokens or more)");
  r.ppl = std::exp(nll / double(r.positions));
  r.kl = kl / double(r.positions);
  r.agree = double(agree) / double(r.positions);
  return r;
}

}  // namespace kuai::train
