// The interleaved ("repacked") layout of Q4_0 and Q8_0 weights that model::int8_gemm reads: made once at
// load time (LlamaModel keeps the copy in WeightView::packed), or per tile into scratch when a weight has
// none. Plain C++, no ISA flags; the layout is the same on every CPU.
//
// Rows come in groups of 16 (a weight's last group of 8 is padded with zero rows). A group is one
// contiguous stream that the kernel reads front to back, a unit of two blocks (64 weights per row) at a
// time, every unit 64-byte aligned:
//   unit u (blocks 2u, 2u + 1): [block 2u quants | block 2u + 1 quants | 16 fp16 scales of 2u | 16 of 2u + 1]
//   quants of block b: vectors of 64 bytes; vector j, 32-bit lane r = row r's 4 stored bytes at [4j, 4j + 4):
//     Q4_0: 4 vectors (256 bytes), the nibble bytes as stored: low nibbles are weights 4j..4j+3 (+8),
//           high nibbles weights 16+4j..16+4j+3 (+8);
//     Q8_0: 8 vectors (512 bytes), the bytes xor 0x80 (weights 4j..4j+3, +128: unsigned for vpdpbusd).
// A group of an odd block count ends with a half-filled unit (its second block is zero, never read).
// Both keep their size: 18 (Q4_0) and 34 (Q8_0) bytes per block and row, + one block per row for an
// odd block count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "engine/gguf/ggml_type.h"
#include "engine/kernels/matmul.h"

namespace kuai::engine::model {

constexpr int kPackRows = 16;  // rows per group

// Bytes of a block's quants in a group (16 rows): 256 for Q4_0, 512 for Q8_0; 0 for other types.
constexpr size_t int8_pack_quant_bytes(GgmlType type) {
  return type == GgmlType::Q4_0 ? 256 : type == GgmlType::Q8_0 ? 512 : 0;
}
// Bytes of a unit (two blocks of 16 rows, with their scales): 576 (Q4_0) or 1088 (Q8_0), 64-byte multiples.
constexpr size_t int8_pack_unit_bytes(GgmlType type) { return 2 * int8_pack_quant_bytes(type) + 64; }
// Bytes of one group of a weight with `cols` columns.
size_t int8_pack_group_bytes(GgmlType type, int64_t cols);

// Whether `w` can be packed: Q4_0 or Q8_0, rows % 8 == 0, cols % 32 == 0.
bool int8_packable(const kernels::WeightView& w);

// Writes the group of rows [r0, r0 + 16) of `w` (r0 % 16 == 0; rows past w.rows are zero) to dst
// (int8_pack_group_bytes bytes, 64-byte aligned).
void int8_pack_group(const kernels::WeightView& w, int64_t r0, uint8_t* dst);

// Weight bytes in one allocation of huge pages (kernels/huge_pages.h): one weight's packed copy, or a
// model's copies of its matrices one after another (packed or as stored: weight_product.h).
struct PackedWeight {
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> bytes;
  size_t size = 0;
  const uint8_t* data() const { return bytes.get(); }
};
// `bytes` uninitialised bytes (on huge pages where the kernel grants them).
PackedWeight huge_page_weights(size_t bytes);

// Bytes of w's packed copy: its groups in row order (a multiple of 64).
size_t int8_packed_bytes(const kernels::WeightView& w);
// Packs w into dst (int8_packed_bytes(w) bytes, 64-byte aligned; group g at dst + g *
// int8_pack_group_bytes). Precondition: int8_packable(w). Threads: on up to `n_threads` threads of its own.
void int8_pack_weight_into(const kernels::WeightView& w, uint8_t* dst, int n_threads);
// The same into an allocation of its own.
PackedWeight int8_pack_weight(const kernels::WeightView& w, int n_threads);

// Reads back weight (row r, column c)'s stored quant, as kernels/blocks.h defines it (Q4_0: the nibble
// q in [0, 15]; Q8_0: the int8 q), and row r's scale of block c / 32 (binary16 bits): for tests.
int int8_pack_quant_at(GgmlType type, const uint8_t* group, int r, int64_t c);
uint16_t int8_pack_scale_at(GgmlType type, const uint8_t* group, int r, int b);

}  // namespace kuai::engine::model
