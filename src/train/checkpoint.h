// Training checkpoints: a GGUF file (magic, version, bounds-checked reads for free) holding the model
// as written by write_model (so a checkpoint also loads as a model), the optimizer moments as tensors
// `adam.m.<name>` / `adam.v.<name>`, and `kuai.train.*` keys: the step reached, the optimizer's update
// count and a fingerprint of the run's options (a resume with other options is refused).
#pragma once

#include <cstdint>
#include <string>

#include "engine/gguf/result.h"
#include "train/adamw.h"
#include "train/params.h"

namespace kuai::train {

struct Checkpoint {
  Params params;
  int64_t step = 0;    // steps done
  int64_t adam_t = 0;  // optimizer updates done
  std::vector<float> m, v;
  std::string fingerprint;
};

// Written to path.tmp, then renamed over path.
engine::Status save_checkpoint(const std::string& path, const Params& p, const AdamW& opt, int64_t step,
                               const std::string& fingerprint, const engine::GgufFile* tokenizer);
engine::Result<Checkpoint> load_checkpoint(const std::string& path);

}  // namespace kuai::train
