// Training data: a text file tokenized into one sequence, or sequences sampled from a teacher.
#pragma once

#include <cstdint>
#include <string>

#include "engine/gguf/result.h"
#include "train/trainer.h"

namespace kuai::engine {
class Tokenizer;
}

namespace kuai::train {

// The file's text as one token sequence (BOS first when the vocabulary asks for it). Errors: unreadable
// file, fewer than min_tokens tokens (the message says how many it has).
engine::Result<Corpus> corpus_from_file(const std::string& path, const engine::Tokenizer& tok, int min_tokens);

// n sequences of up to len tokens sampled from the teacher at temperature 1, sequence i with seed
// seed + i, each starting with `first` and ending early at `stop` (kept) when stop >= 0.
engine::Result<Corpus> corpus_from_teacher(const engine::model::LlamaModel& teacher, int n, int len, uint64_t seed,
                                           int32_t first, int32_t stop, engine::ThreadPool& pool);

}  // namespace kuai::train
