#include "engine/model/weight_product.h"

#include <algorithm>
#include <cstring>
#include <thread>

#include "engine/kernels/type_traits.h"
#include "engine/model/float_gemm.h"

namespace kuai::engine::model {

void weight_product(ThreadPool& pool, std::span<const kernels::MatmulOut> outs, const float* x, size_t x_stride,
                    int n, WeightProductScratch& s, bool batched_kernels) {
  if (batched_kernels && int8_gemm_preferred(outs, n)) {
    int8_gemm(pool, outs, x, x_stride, n, s.int8);
  } else if (batched_kernels && kquant_gemm_preferred(outs, n)) {
    kquant_gemm(pool, outs, x, x_stride, n, s.kquant);
  } else if (batched_kernels && float_gemm_preferred(outs, n)) {
    float_gemm(pool, outs, x, x_stride, n);
  } else {
    kernels::matmul(pool, outs, x, x_stride, n, s.mm);
  }
}

void weight_product(ThreadPool& pool, const kernels::WeightView& w, const float* x, int n, float* y,
                    WeightProductScratch& s, bool batched_kernels) {
  const kernels::MatmulOut out{&w, y, size_t(w.rows)};
  weight_product(pool, std::span<const kernels::MatmulOut>(&out, 1), x, size_t(w.cols), n, s, batched_kernels);
}

void copy_to_huge_pages(std::span<kernels::WeightView* const> weights, std::vector<PackedWeight>& store) {
  std::vector<kernels::WeightView*> rest;
  size_t total = 0;
  auto padded = [](const kernels::WeightView& w) { return (size_t(w.rows) * w.row_bytes + 63) / 64 * 64; };
  for (kernels::WeightView* w : weights)
    if (!w->packed) rest.push_back(w), total += padded(*w);
  if (rest.empty()) return;
  store.push_back(huge_page_weights(total));
  uint8_t* at = store.back().bytes.get();
  for (kernels::WeightView* w : rest) {
    std::memcpy(at, w->data, size_t(w->rows) * w->row_bytes);
    w->data = at;
    at += padded(*w);
  }
}

void pack_for_int8_gemm(std::span<kernels::WeightView* const> weights, std::vector<PackedWeight>& store) {
  if (kernels::detected_isa() < kernels::Isa::kAvx2) return;  // int8_gemm's level
  const int threads = int(std::clamp(std::thread::hardware_concurrency(), 1u, 8u));
  std::vector<kernels::WeightView*> packable;
  size_t total = 0;
  for (kernels::WeightView* w : weights)
    if (int8_packable(*w)) packable.push_back(w), total += int8_packed_bytes(*w);
  if (packable.empty()) return;
  // One allocation for all: a weight of its own would round up to whole 2 MiB pages.
  store.push_back(huge_page_weights(total));
  uint8_t* at = store.back().bytes.get();
  for (kernels::WeightView* w : packable) {
    int8_pack_weight_into(*w, at, threads);
    w->packed = at;
    at += int8_packed_bytes(*w);
  }
}

}  // namespace kuai::engine::model
