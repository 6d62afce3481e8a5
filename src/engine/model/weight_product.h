// Every weight product of engine/model's forward passes (LlamaModel, BertModel): Q4_0 and Q8_0 through
// the packed int8 kernel (int8_gemm, with the load-time copy of WeightView::packed), Q4_K/Q6_K and
// F32/F16/BF16 prompts through their batched kernels, where the CPU has them and they pay
// (*_preferred); anything else through kernels::matmul.
#pragma once

#include <span>
#include <vector>

#include "engine/kernels/matmul.h"
#include "engine/model/int8_gemm.h"
#include "engine/model/int8_pack.h"
#include "engine/model/kquant_gemm.h"

namespace kuai::engine {
class ThreadPool;
}

namespace kuai::engine::model {

// Per-caller buffers of the kernels, reused between calls.
struct WeightProductScratch {
  kernels::MatmulScratch mm;
  Int8GemmScratch int8;
  KquantGemmScratch kquant;
};

// y = W x for every output (kernels::matmul's contract). `batched_kernels` false: kernels::matmul only.
void weight_product(ThreadPool& pool, std::span<const kernels::MatmulOut> outs, const float* x, size_t x_stride,
                    int n_tokens, WeightProductScratch& scratch, bool batched_kernels = true);
void weight_product(ThreadPool& pool, const kernels::WeightView& w, const float* x, int n_tokens, float* y,
                    WeightProductScratch& scratch, bool batched_kernels = true);

// Where int8_gemm runs (avx2 level or above), packs each Q4_0 / Q8_0 weight once into `store` and points its
// view's `packed` at the copy. `store` must outlive the views.
void pack_for_int8_gemm(std::span<kernels::WeightView* const> weights, std::vector<PackedWeight>& store);
// Copies every matrix without a packed copy (F32, F16, BF16, K-quants, and all of them below the avx2
// level) into one huge-page allocation in `store` (kernels/huge_pages.h) and points its view there:
// decode streams every matrix once per token, and the file's mapping has 4 KiB pages. On a 2-core KVM
// Xeon (lscpu model 167), TinyLlama F16 decode went from 8.0-8.1 to 12.3-13.1 tokens/s. Call after
// pack_for_int8_gemm. `store` must outlive the views.
void copy_to_huge_pages(std::span<kernels::WeightView* const> weights, std::vector<PackedWeight>& store);

}  // namespace kuai::engine::model
