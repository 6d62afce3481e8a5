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
    const Isa c = std::strcmp(cap, "plain") == 0 ? Isa::kPlain : std::strcmp(cap, "avx2") == 0 ? Isa::kAvx2 : want;
    if (int(c) < int(want)) want = c;
  }
  EXPECT_EQ(detected_isa(), want) << "cpu " << isa_name(cpu::cpu_isa());
  EXPECT_EQ(kernel_traits(GgmlType::Q8_0), kernel_traits(GgmlType::Q8_0, want));
}

}  // namespace
}  // namespace kuai::engine::kernels
