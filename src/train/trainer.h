// The training loop shared by `kuai train` (next-token cross-entropy) and `kuai distill` (a teacher's
// distributions): train::train and train::distill are the library entry points (the pruning tools call
// distill to heal a pruned student).
//
// A step: `accum` micro-batches of `batch` windows of seq_len + 1 tokens, each window picked by a
// generator seeded from (seed, step, micro-batch) alone, so a resumed run sees the same batches; the
// windows of a micro-batch are split into one fixed chunk per pool thread, each chunk with its own
// gradient buffer, summed in chunk order (the same bits whichever thread runs which chunk). Then
// global-norm clipping, the warm-up + cosine learning rate and one AdamW update. A non-finite loss stops
// the run with an error naming the last good checkpoint (never overwritten by a bad step).
// Threads: the caller's thread drives; the pool runs the chunks (and the teacher's forward passes).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/gguf/result.h"
#include "train/adamw.h"
#include "train/loss.h"
#include "train/params.h"

namespace kuai::engine {
class GgufFile;
class ThreadPool;
}  // namespace kuai::engine
namespace kuai::engine::model {
class LlamaModel;
}

namespace kuai::train {

// Token sequences to train on (a tokenized text is one long sequence; sampled text one per sample).
struct Corpus {
  std::vector<std::vector<int32_t>> seqs;
  int64_t n_tokens() const;
};

struct TrainOptions {
  int steps = 200;
  int batch = 8;        // windows per micro-batch
  int seq_len = 64;     // tokens per window seen by the model (a window holds seq_len + 1 tokens)
  int accum = 1;        // micro-batches per optimizer step
  uint64_t seed = 1;    // batch order
  AdamWConfig adamw;
  std::string checkpoint_path;  // "" = none
  int checkpoint_every = 0;     // steps; 0 = only at the end (when a path is given)
  bool resume = false;          // continue from checkpoint_path
  const engine::GgufFile* tokenizer = nullptr;  // vocabulary copied into checkpoints
  const std::atomic<bool>* stop = nullptr;      // set (e.g. by SIGTERM): checkpoint and return an error
};

struct DistillOptions {
  Divergence loss = Divergence::kKl;
  float temperature = 2.0f;
  float alpha = 0.5f;  // loss = alpha * T^2 * D(teacher_T || student_T) + (1 - alpha) * CE
  int top_k = 0;       // teacher probabilities kept per position; 0 = all
  // On-policy distillation (GKD, Agarwal et al.): this share of the windows keeps its first half and
  // has the rest sampled from the student as it is at that step (temperature 1, ending at stop_token);
  // those windows are trained on T^2 * D alone (cross-entropy on the student's own text teaches nothing).
  float on_policy = 0;
  int32_t stop_token = -1;
  // Hidden-state distillation: with hidden > 0 the loss also has hidden * the mean over layers of
  // ||student residual - teacher residual||^2 / (E * the teacher's mean square there), per position: the
  // student's residual stream leaving each layer pulled towards the teacher's (TinyBERT, Minitron). Needs
  // the teacher's weights as training parameters (`hidden_teacher`: same layers and width as the student;
  // a pruned student keeps them when only heads and FFN channels were cut).
  float hidden = 0;
  const Params* hidden_teacher = nullptr;
};

struct StepInfo {
  int step = 0, steps = 0;      // step just done (1-based)
  double loss = 0;              // mean per position (the objective)
  double ce = 0, kd = 0;        // its parts (kd 0 without a teacher)
  double hidden = 0;            // the hidden-state part, weighted (0 without DistillOptions::hidden)
  double lr = 0, grad_norm = 0;
  double tokens_per_s = 0, elapsed_s = 0, eta_s = 0;
};
using StepCallback = std::function<void(const StepInfo&)>;

struct TrainResult {
  std::vector<double> losses;  // per step done in this call
  int64_t tokens = 0;          // positions trained on in this call
  double seconds = 0;
  double tokens_per_s() const { return seconds > 0 ? double(tokens) / seconds : 0; }
};

engine::Result<TrainResult> train(Params& p, const Corpus& data, const TrainOptions& opt, engine::ThreadPool& pool,
                                  const StepCallback& on_step = {});

// teacher and p must share the vocabulary (an error otherwise).
engine::Result<TrainResult> distill(const engine::model::LlamaModel& teacher, Params& p, const Corpus& data,
                                    const TrainOptions& opt, const DistillOptions& dopt, engine::ThreadPool& pool,
                                    const StepCallback& on_step = {});

struct EvalResult {
  double ppl = 0;     // exp(mean NLL of the next token)
  double kl = 0;      // mean KL(teacher || student) per position, nats (0 without a teacher)
  double agree = 0;   // share of positions where the argmaxes agree (0 without a teacher)
  int64_t positions = 0;
};

// Every sequence whole (at most p.config.n_ctx tokens of each).
engine::Result<EvalResult> evaluate(const Params& p, const Corpus& data, const engine::model::LlamaModel* teacher,
                                    engine::ThreadPool& pool);

}  // namespace kuai::train
