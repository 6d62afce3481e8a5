#include "engine/model/int8_pack.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "engine/kernels/blocks.h"
#include "engine/kernels/huge_pages.h"

namespace kuai::engine::model {

namespace {

template <class Block>
const Block* row_blocks(const kernels::WeightView& w, int64_t r) {
  return reinterpret_cast<const Block*>(static_cast<const uint8_t*>(w.data) + size_t(r) * w.row_bytes);
}

// Where block b's quants and scales start inside a group.
size_t quants_offset(GgmlType type, int b) {
  return size_t(b / 2) * int8_pack_unit_bytes(type) + size_t(b % 2) * int8_pack_quant_bytes(type);
}
size_t scales_offset(GgmlType type, int b) {
  return size_t(b / 2) * int8_pack_unit_bytes(type) + 2 * int8_pack_quant_bytes(type) + size_t(b % 2) * 32;
}

}  // namespace

size_t int8_pack_group_bytes(GgmlType type, int64_t cols) {
  const int64_t nb = cols / 32;
  return size_t((nb + 1) / 2) * int8_pack_unit_bytes(type);
}

bool int8_packable(const kernels::WeightView& w) {
  return (w.type == GgmlType::Q4_0 || w.type == GgmlType::Q8_0) && w.rows % 8 == 0 && w.cols % 32 == 0 &&
         w.rows > 0 && w.cols > 0 && w.data;
}

void int8_pack_group(const kernels::WeightView& w, int64_t r0, uint8_t* dst) {
  const int nb = int(w.cols / 32);
  std::memset(dst, 0, int8_pack_group_bytes(w.type, w.cols));
  const int rows = int(std::min<int64_t>(kPackRows, w.rows - r0));
  for (int r = 0; r < rows; ++r) {
    for (int b = 0; b < nb; ++b) {
      uint8_t* q = dst + quants_offset(w.type, b);
      uint16_t d;
      if (w.type == GgmlType::Q4_0) {
        const kernels::BlockQ4_0& blk = row_blocks<kernels::BlockQ4_0>(w, r0 + r)[b];
        for (int j = 0; j < 4; ++j) std::memcpy(q + 64 * j + 4 * r, blk.qs + 4 * j, 4);
        d = blk.d;
      } else {
        const kernels::BlockQ8_0& blk = row_blocks<kernels::BlockQ8_0>(w, r0 + r)[b];
        for (int j = 0; j < 8; ++j)
          for (int i = 0; i < 4; ++i) q[64 * j + 4 * r + i] = uint8_t(blk.qs[4 * j + i]) ^ 0x80;
        d = blk.d;
      }
      std::memcpy(dst + scales_offset(w.type, b) + 2 * size_t(r), &d, 2);
    }
  }
}

void PackedWeight::Free::operator()(uint8_t* p) const { std::free(p); }

size_t int8_packed_bytes(const kernels::WeightView& w) {
  return int8_pack_group_bytes(w.type, w.cols) * size_t((w.rows + kPackRows - 1) / kPackRows);
}

void int8_pack_weight_into(const kernels::WeightView& w, uint8_t* dst, int n_threads) {
  const size_t gb = int8_pack_group_bytes(w.type, w.cols);
  const int64_t groups = (w.rows + kPackRows - 1) / kPackRows;
  auto run = [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) int8_pack_group(w, g * kPackRows, dst + size_t(g) * gb);
  };
  const int nth = int(std::clamp<int64_t>(n_threads, 1, groups));
  std::vector<std::thread> threads;
  for (int i = 1; i < nth; ++i) threads.emplace_back(run, groups * i / nth, groups * (i + 1) / nth);
  run(0, groups / nth);
  for (auto& t : threads) t.join();
}

PackedWeight huge_page_weights(size_t bytes) {
  PackedWeight out;
  out.bytes.reset(kernels::huge_page_alloc(bytes));
  out.size = bytes;
  return out;
}

PackedWeight int8_pack_weight(const kernels::WeightView& w, int n_threads) {
  PackedWeight out = huge_page_weights(int8_packed_bytes(w));
  int8_pack_weight_into(w, out.bytes.get(), n_threads);
  return out;
}

int int8_pack_quant_at(GgmlType type, const uint8_t* group, int r, int64_t c) {
  const int b = int(c / 32), i = int(c % 32);
  const uint8_t* q = group + quants_offset(type, b);
  if (type == GgmlType::Q4_0) {
    const int k = i % 16;  // stored byte k holds weights k (low) and k + 16 (high)
    const uint8_t byte = q[64 * (k / 4) + 4 * r + k % 4];
    return i < 16 ? (byte & 0x0F) : (byte >> 4);
  }
  return int(int8_t(q[64 * (i / 4) + 4 * r + i % 4] ^ 0x80));
}

uint16_t int8_pack_scale_at(GgmlType type, const uint8_t* group, int r, int b) {
  uint16_t d;
  std::memcpy(&d, group + scales_offset(type, b) + 2 * size_t(r), 2);
  return d;
}

}  // namespace kuai::engine::model
