// Fuzz-style robustness of the GGUF reader: truncations at every length, random byte flips, and
// hostile values written over length/count/offset fields of a valid file. Each case must give either an
// error with a message or a file whose every tensor lies inside the buffer; ASan (CI) checks the reads.
#include "engine/gguf/gguf_file.h"
#include "engine/gguf/gguf_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

namespace kuai::engine {
namespace {

std::vector<uint8_t> valid_file() {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_f32("eps", 1e-5f);
  w.set_bool("flag", true);
  w.set_array<std::string>("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "a", "bc"});
  w.set_array<float>("tokenizer.ggml.scores", {0, 0, 0, -1, -2});
  w.set("nested", GgufValue::array_of_arrays({GgufValue::array<int32_t>({1, 2, 3})}));
  w.set("f64", GgufValue::of(3.0));
  w.add_tensor("t0", GgmlType::F32, {8, 2}, std::vector<uint8_t>(64, 1));
  w.add_tensor("t1", GgmlType::Q8_0, {32, 2}, std::vector<uint8_t>(68, 2));
  w.add_tensor("t2", GgmlType::F16, {4}, std::vector<uint8_t>(8, 3));
  const auto path = std::filesystem::temp_directory_path() / ("kuai_fuzz_" + std::to_string(::getpid()) + ".gguf");
  EXPECT_TRUE(w.write(path.string()).ok());
  std::ifstream in(path, std::ios::binary);
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::filesystem::remove(path);
  return bytes;
}

// Parses a copy held in an exactly-sized heap buffer, so ASan sees any read past its end.
void check(const std::vector<uint8_t>& bytes) {
  std::unique_ptr<uint8_t[]> buf(new uint8_t[bytes.size() + 1]);
  std::copy(bytes.begin(), bytes.end(), buf.get());
  auto f = GgufFile::parse(buf.get(), bytes.size());
  if (!f.ok()) {
    EXPECT_FALSE(f.error().empty());
    return;
  }
  for (const auto& t : (*f)->tensors()) {
    ASSERT_GE(t.data, buf.get());
    ASSERT_LE(t.data + t.n_bytes, buf.get() + bytes.size());
    volatile uint8_t sink = 0;
    for (uint64_t i = 0; i < t.n_bytes; ++i) sink = sink + t.data[i];
  }
  for (const auto& kv : (*f)->metadata()) (void)kv.value.to_display();
}

TEST(GgufFuzz, ValidFileParses) {
  auto bytes = valid_file();
  auto f = GgufFile::parse(bytes.data(), bytes.size());
  ASSERT_TRUE(f.ok()) << f.error();
  EXPECT_EQ((*f)->tensors().size(), 3u);
}

TEST(GgufFuzz, EveryTruncationIsAnErrorOrValid) {
  auto bytes = valid_file();
  auto full = GgufFile::parse(bytes.data(), bytes.size());
  ASSERT_TRUE(full.ok());
  uint64_t data_end = 0;  // the trailing alignment padding may be cut without harm
  for (const auto& t : (*full)->tensors()) data_end = std::max(data_end, (*full)->data_offset() + t.offset + t.n_bytes);
  for (size_t n = 0; n < data_end; ++n) {
    std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + n);
    check(cut);
    std::unique_ptr<uint8_t[]> buf(new uint8_t[n + 1]);
    std::copy(cut.begin(), cut.end(), buf.get());
    EXPECT_FALSE(GgufFile::parse(buf.get(), n).ok()) << "truncated at " << n;
  }
}

TEST(GgufFuzz, RandomByteFlips) {
  const auto bytes = valid_file();
  std::mt19937_64 rng(12345);
  for (int iter = 0; iter < 4000; ++iter) {
    auto copy = bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) copy[rng() % copy.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
    check(copy);
  }
}

TEST(GgufFuzz, HostileFieldValues) {
  const auto bytes = valid_file();
  const uint64_t hostile[] = {0, 1, 0x7f, 0xff, 0xffff, 0x7fffffff, 0xffffffff, 0x100000000ull,
                              0x7fffffffffffffffull, 0xffffffffffffffffull, 0x8000000000000000ull, 32, 4096};
  // Overwrite every byte position (the header region, where lengths/counts/offsets live) with each
  // hostile value as u32 and as u64.
  const size_t header_end = std::min<size_t>(bytes.size(), 400);
  for (size_t pos = 4; pos + 8 <= header_end; ++pos) {
    for (uint64_t v : hostile) {
      auto copy = bytes;
      std::memcpy(copy.data() + pos, &v, 8);
      check(copy);
      copy = bytes;
      const uint32_t v32 = static_cast<uint32_t>(v);
      std::memcpy(copy.data() + pos, &v32, 4);
      check(copy);
    }
  }
}

TEST(GgufFuzz, RandomGarbageAfterMagic) {
  std::mt19937_64 rng(99);
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<uint8_t> b(8 + rng() % 256);
    for (auto& x : b) x = static_cast<uint8_t>(rng());
    std::memcpy(b.data(), "GGUF", 4);
    b[4] = static_cast<uint8_t>(2 + rng() % 2);
    b[5] = b[6] = b[7] = 0;
    check(b);
  }
}

}  // namespace
}  // namespace kuai::engine
