#include "engine/kv/kv_store.h"

#include "engine/kernels/blocks.h"
#include "engine/kernels/fp16.h"
#include "engine/kv/kv_convert.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace kuai::engine::kv {
namespace {

std::vector<float> random_row(std::mt19937& rng, int n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(KvStore, BlockCountFollowsBudget) {
  KvShape shape{.n_layer = 2, .kv_dim = 64, .block_tokens = 16, .type = KvType::kF16};
  // one block = 2 layers * (K+V) * 16 tokens * 64 * 2 bytes = 8 KiB
  std::string err;
  auto store = KvStore::create(shape, 80 * 1024 + 100, &err);
  ASSERT_TRUE(store) << err;
  EXPECT_EQ(store->block_bytes(), 8192u);
  EXPECT_EQ(store->n_blocks(), 10);
  EXPECT_FALSE(KvStore::create(shape, 8191, &err));
  EXPECT_NE(err.find("holds no block"), std::string::npos);
}

TEST(KvStore, Q8NeedsMultipleOf32) {
  std::string err;
  EXPECT_FALSE(KvStore::create({.n_layer = 1, .kv_dim = 40, .block_tokens = 16, .type = KvType::kQ8_0}, 1 << 20, &err));
  EXPECT_NE(err.find("multiple of 32"), std::string::npos);
  EXPECT_FALSE(KvStore::create({.n_layer = 0, .kv_dim = 32, .block_tokens = 16, .type = KvType::kF16}, 1 << 20, &err));
}

TEST(KvStore, TypeNames) {
  EXPECT_EQ(kv_type_from_name("F16"), KvType::kF16);
  EXPECT_EQ(kv_type_from_name("q8_0"), KvType::kQ8_0);
  EXPECT_EQ(kv_type_from_name("f32"), KvType::kF32);
  EXPECT_FALSE(kv_type_from_name("q4"));
  EXPECT_EQ(kv_type_name(KvType::kQ8_0), "q8_0");
}

// Writes random rows into every slot of two blocks and two layers, reads them back through read(), and
// checks each value within the type's bound: F32 exact; F16 relative 2^-11; Q8_0 half a step of
// max|x| / 127 per 32 values.
void round_trip(KvType type) {
  const int kv_dim = 64, bs = 4, n_layer = 2;
  std::string err;
  auto store = KvStore::create({.n_layer = n_layer, .kv_dim = kv_dim, .block_tokens = bs, .type = type}, 1 << 20, &err);
  ASSERT_TRUE(store) << err;
  std::mt19937 rng(7);
  std::vector<std::vector<float>> k, v;
  for (BlockId b = 0; b < 2; ++b) {
    for (int l = 0; l < n_layer; ++l) {
      for (int s = 0; s < bs; ++s) {
        k.push_back(random_row(rng, kv_dim, 3.0f));
        v.push_back(random_row(rng, kv_dim, 0.5f));
        store->write(b, s, l, k.back().data(), v.back().data());
      }
    }
  }
  size_t idx = 0;
  std::vector<float> ko(size_t(bs * kv_dim)), vo(size_t(bs * kv_dim));
  for (BlockId b = 0; b < 2; ++b) {
    for (int l = 0; l < n_layer; ++l) {
      store->read(b, l, bs, ko.data(), vo.data());
      for (int s = 0; s < bs; ++s, ++idx) {
        for (const auto& [want, got] : {std::pair{&k[idx], ko.data() + s * kv_dim}, std::pair{&v[idx], vo.data() + s * kv_dim}}) {
          for (int g = 0; g < kv_dim; g += 32) {
            float amax = 0;
            for (int j = g; j < g + 32; ++j) amax = std::max(amax, std::fabs((*want)[size_t(j)]));
            for (int j = g; j < g + 32; ++j) {
              const float w = (*want)[size_t(j)];
              float bound = 0;
              if (type == KvType::kF16) bound = std::fabs(w) * 0x1p-11f + 1e-7f;
              if (type == KvType::kQ8_0) bound = amax / 127.0f * 0.5f * 1.01f + amax * 1e-3f;
              ASSERT_LE(std::fabs(got[j] - w), bound) << "type " << kv_type_name(type) << " j " << j;
            }
          }
        }
      }
    }
  }
}

TEST(KvStore, RoundTripF32) { round_trip(KvType::kF32); }
TEST(KvStore, RoundTripF16) { round_trip(KvType::kF16); }
TEST(KvStore, RoundTripQ8_0) { round_trip(KvType::kQ8_0); }

TEST(KvStore, CopyCopiesPrefixOfEveryLayer) {
  std::string err;
  auto store = KvStore::create({.n_layer = 3, .kv_dim = 32, .block_tokens = 4, .type = KvType::kF32}, 1 << 16, &err);
  ASSERT_TRUE(store);
  std::mt19937 rng(3);
  std::vector<std::vector<float>> rows;
  for (int l = 0; l < 3; ++l) {
    for (int s = 0; s < 3; ++s) {
      rows.push_back(random_row(rng, 32, 1.0f));
      store->write(0, s, l, rows.back().data(), rows.back().data());
    }
  }
  store->copy(1, 0, 3);
  std::vector<float> k(3 * 32), v(3 * 32);
  for (int l = 0; l < 3; ++l) {
    store->read(1, l, 3, k.data(), v.data());
    for (int s = 0; s < 3; ++s) {
      for (int j = 0; j < 32; ++j) {
        EXPECT_EQ(k[size_t(s * 32 + j)], rows[size_t(l * 3 + s)][size_t(j)]);
        EXPECT_EQ(v[size_t(s * 32 + j)], rows[size_t(l * 3 + s)][size_t(j)]);
      }
    }
  }
}

// A store whose rows are split by head (shape.head_dim) holds the same values as one of whole rows:
// read, read_cols and copy give the same floats, and a head's columns in place are the same bytes,
// slot after slot at slot_stride(). F32, and Q8_0 with heads that are not whole 32-groups, keep rows.
TEST(KvStore, HeadPartsHoldWhatWholeRowsHold) {
  struct Case {
    KvType type;
    int32_t head_dim, want_part;
  };
  for (const Case c : {Case{KvType::kF16, 32, 32}, Case{KvType::kQ8_0, 32, 32}, Case{KvType::kF32, 32, 128},
                       Case{KvType::kQ8_0, 64, 64}, Case{KvType::kF16, 16, 16}}) {
    const int32_t kv_dim = 128, bs = 4, n_layer = 2;
    std::string err;
    auto rows = KvStore::create({.n_layer = n_layer, .kv_dim = kv_dim, .block_tokens = bs, .type = c.type}, 1 << 18, &err);
    auto heads = KvStore::create(
        {.n_layer = n_layer, .kv_dim = kv_dim, .block_tokens = bs, .type = c.type, .head_dim = c.head_dim}, 1 << 18, &err);
    ASSERT_TRUE(rows && heads) << err;
    EXPECT_EQ(rows->part_dim(), kv_dim);
    EXPECT_EQ(heads->part_dim(), c.want_part) << kv_type_name(c.type) << " head_dim " << c.head_dim;
    std::mt19937 rng(9);
    for (int l = 0; l < n_layer; ++l)
      for (int s = 0; s < bs; ++s) {
        auto k = random_row(rng, kv_dim, 2.0f), v = random_row(rng, kv_dim, 1.0f);
        rows->write(0, s, l, k.data(), v.data());
        heads->write(0, s, l, k.data(), v.data());
      }
    heads->copy(1, 0, 3);
    const size_t n = size_t(bs) * size_t(kv_dim);
    std::vector<float> k1(n), v1(n), k2(n), v2(n), k3(n, 0.f), v3(n, 0.f), k4(n, 0.f), v4(n, 0.f);
    for (int l = 0; l < n_layer; ++l) {
      rows->read(0, l, bs, k1.data(), v1.data());
      heads->read(0, l, bs, k2.data(), v2.data());
      EXPECT_EQ(k1, k2);
      EXPECT_EQ(v1, v2);
      heads->read(1, l, 3, k2.data(), v2.data());  // the copied prefix
      EXPECT_TRUE(std::equal(k1.begin(), k1.begin() + 3 * kv_dim, k2.begin()));
      rows->read_cols(0, l, 1, 3, 32, 64, k3.data(), v3.data());
      heads->read_cols(0, l, 1, 3, 32, 64, k4.data(), v4.data());
      EXPECT_EQ(k3, k4);
      EXPECT_EQ(v3, v4);
      if (c.type == KvType::kF32) continue;
      const int32_t hd = c.head_dim;
      const size_t head_bytes = c.type == KvType::kF16 ? size_t(hd) * 2 : size_t(hd / 32) * sizeof(kernels::BlockQ8_0);
      for (int32_t col0 = 0; col0 < kv_dim; col0 += hd)
        for (int s = 0; s < bs; ++s)
          for (bool value : {false, true}) {
            const uint8_t* want = rows->cols_in_place(0, l, value, s, col0);
            const uint8_t* got = heads->cols_in_place(0, l, value, s, col0);
            EXPECT_EQ(std::memcmp(want, got, head_bytes), 0) << "col0 " << col0 << " slot " << s;
            if (s > 0) {
              EXPECT_EQ(got, heads->cols_in_place(0, l, value, s - 1, col0) + heads->slot_stride());
            }
          }
    }
  }
}

// The F16C path and the plain one agree bit for bit (both round to nearest even).
TEST(KvConvert, F16PathsAgree) {
  std::mt19937 rng(11);
  auto x = random_row(rng, 1000, 100.0f);
  x[0] = 1e-6f;    // subnormal half
  x[1] = 70000.f;  // overflow to inf
  x[2] = -0.0f;
  std::vector<uint16_t> a(x.size()), b(x.size());
  kv_f32_to_f16(x.data(), a.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) b[i] = kernels::fp32_to_fp16(x[i]);
  EXPECT_EQ(a, b);
  std::vector<float> y(x.size());
  kv_f16_to_f32(a.data(), y.data(), int64_t(x.size()));
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(y[i], kernels::fp16_to_fp32(a[i]));
}

}  // namespace
}  // namespace kuai::engine::kv

namespace kuai::engine::kv {
namespace {

// read_cols gives exactly read()'s values in the requested columns, for every type.
TEST(KvStore, ReadColsMatchesRead) {
  for (KvType type : {KvType::kF32, KvType::kF16, KvType::kQ8_0}) {
    std::string err;
    auto store = KvStore::create({.n_layer = 1, .kv_dim = 128, .block_tokens = 4, .type = type}, 1 << 16, &err);
    ASSERT_TRUE(store) << err;
    std::mt19937 rng(5);
    for (int s = 0; s < 4; ++s) {
      auto k = random_row(rng, 128, 1.0f), v = random_row(rng, 128, 2.0f);
      store->write(0, s, 0, k.data(), v.data());
    }
    std::vector<float> k_all(4 * 128), v_all(4 * 128), k_h(4 * 128, -99.f), v_h(4 * 128, -99.f);
    store->read(0, 0, 1, 3, k_all.data(), v_all.data());
    store->read_cols(0, 0, 1, 3, 64, 32, k_h.data(), v_h.data());
    for (int t = 0; t < 3; ++t) {
      for (int j = 64; j < 96; ++j) {
        EXPECT_EQ(k_h[size_t(t * 128 + j)], k_all[size_t(t * 128 + j)]) << kv_type_name(type);
        EXPECT_EQ(v_h[size_t(t * 128 + j)], v_all[size_t(t * 128 + j)]) << kv_type_name(type);
      }
    }
  }
}

}  // namespace
}  // namespace kuai::engine::kv
