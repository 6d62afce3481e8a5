// llama.cpp's llama-bench as a same-run peer for `kuai bench` and bench/engine: find the binary, run
// one test (ppN or tgN) on the same GGUF with the same threads, read its tokens/s from `-o json`.
// The peer is a tool beside the project (../shared/tools/llama.cpp/, README there): when it is absent,
// or dies (the portable build uses AVX-VNNI, which e.g. AMD Zen 4 lacks: SIGILL), callers print why and
// go on without it.
#pragma once

#include <string>

#include "engine/gguf/result.h"

namespace kuai::tools {

// Where llama-bench is: $KUAI_LLAMA_BENCH (the binary or its folder), else ../shared/tools/llama.cpp/
// beside the working directory or beside the checkout the running binary was built in, its amx/ build
// on a CPU with AMX (/proc/cpuinfo lists amx_int8). Error: why none was found.
engine::Result<std::string> find_llama_bench();

// Mean tokens/s of llama-bench's test: n_prompt > 0 runs pp<n_prompt>, else tg<n_gen>. Errors name the
// exit status or signal (SIGILL: built for instructions this CPU lacks) or unreadable output.
engine::Result<double> run_llama_bench(const std::string& bin, const std::string& model, int n_prompt, int n_gen,
                                       int threads, int reps);

}  // namespace kuai::tools
