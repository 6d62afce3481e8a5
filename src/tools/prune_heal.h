// Healing a pruned model by distillation from the original (train::distill, src/train): the pruned file
// is the student's start, the original the teacher; KL(teacher || student) at temperature T mixed with
// cross-entropy (alpha), AdamW with warm-up + cosine, on a text or on sequences sampled from the
// teacher with fixed seeds. The healed weights are written as F32 under a temporary name, then
// requantized to `type` (a quantize recipe; "" or "f32": kept F32) into out_path (temp name + rename).
#pragma once

#include <cstdint>
#include <string>

#include "engine/gguf/result.h"

namespace kuai::engine {
class ThreadPool;
}

namespace kuai::tools {

struct LoadedModel;

struct HealOptions {
  int steps = 0;          // distillation steps; 0 = no healing
  std::string text;       // training text; "" = `generate` sequences sampled from the teacher
  // Sequences of 2 * seq_len + 1 tokens sampled from the teacher (seeds seed, seed+1, ..): windows start
  // at random offsets, so the student also learns positions past the start of a text (held-out text is
  // read in windows that start mid-story: training on story starts only left ppl 9% higher).
  int generate = 64;
  int batch = 8, seq_len = 128;
  float lr = 1e-3f;
  float temperature = 1.0f, alpha = 0.9f;
  // > 0: hidden-state distillation too (train::DistillOptions::hidden: the residual stream leaving each
  // layer pulled towards the original's); only when no layer was dropped.
  float hidden = 0;
  uint64_t seed = 1;
  int n_threads = 0;      // training threads; 0 = the pruning run's
  std::string type;       // requantize the healed matrices to this recipe ("" / "f32": F32)
};

struct HealReport {
  int steps = 0;
  int64_t data_tokens = 0;
  double first_loss = 0, last_loss = 0;
  double seconds = 0, tokens_per_s = 0;
};

// What can be checked before pruning: a healing text (when given) holds one window of seq_len + 1
// tokens (seq_len bounded by the model's context). The message says how many tokens it has.
engine::Status check_heal_options(const LoadedModel& teacher, const HealOptions& opt);

// teacher: the original model (loaded with its tokenizer). Errors: the pruned file is not trainable
// (not llama, partial RoPE), too little text for one window, a non-finite loss, an unwritable output.
engine::Status heal_pruned(const LoadedModel& teacher, const std::string& pruned_path, const std::string& out_path,
                           const HealOptions& opt, engine::ThreadPool& pool, HealReport* report = nullptr);

}  // namespace kuai::tools
