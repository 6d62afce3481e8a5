// cpu/isa.h as the kernels see it: the level is the CPU's own capped by KUAI_ISA (the kernels_isa_*
// CTest runs set it), and kernel_traits() serves that level's table.
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

#include "cpu/isa.h"
#include "engine/kernels/type_traits.h"

namespace kuai::engine::kernels {
namespace {

TEST(IsaLevel, IsTheCpuLevelCappedByKuaiIsa) {
  Isa want = cpu::cpu_isa();
  if (const char* cap = std::getenv("KUAI_ISA")) {
    const Isa c = std::strcmp(cap, "plain") == 0    ? Isa::kPlain
                  : std::strcmp(cap, "avx2") == 0   ? Isa::kAvx2
                  : std::strcmp(cap, "avx512") == 0 ? Isa::kAvx512
                                                    : want;
    if (int(c) < int(want)) want = c;
  }
  EXPECT_EQ(detected_isa(), want) << "cpu " << isa_name(cpu::cpu_isa());
  EXPECT_EQ(kernel_traits(GgmlType::Q8_0), kernel_traits(GgmlType::Q8_0, want));
}

// The avx512 level is what its build flags allow and no more: a CPU with AVX-512 F/BW/VL/DQ/VNNI gets it
// whether or not it has AVX512-BF16 (Ice Lake and Cascade Lake Xeons do not; requiring it ran them on the
// avx2 kernels at half the decode speed).
TEST(IsaLevel, Avx512NeedsVnniButNotBf16) {
  __builtin_cpu_init();
  const bool avx512 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
                      __builtin_cpu_supports("f16c") && __builtin_cpu_supports("avx512f") &&
                      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
                      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
  if (!avx512) GTEST_SKIP() << "this CPU lacks an AVX-512 feature of the level (cpu " << isa_name(cpu::cpu_isa()) << ")";
  EXPECT_GE(cpu::cpu_isa(), Isa::kAvx512) << "avx512bf16: " << __builtin_cpu_supports("avx512bf16");
}

}  // namespace
}  // namespace kuai::engine::kernels
