#include "cpu/isa.h"

#include <cstdlib>
#include <cstring>

namespace kuai::cpu {

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kPlain: return "plain";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

Isa cpu_isa() {
  static const Isa isa = [] {
    __builtin_cpu_init();
    const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    if (!avx2) return Isa::kPlain;
    const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                        __builtin_cpu_supports("avx512vnni");
    return avx512 ? Isa::kAvx512 : Isa::kAvx2;
  }();
  return isa;
}

Isa isa_level() {
  static const Isa isa = [] {
    Isa best = cpu_isa();
    if (const char* cap = std::getenv("KUAI_ISA")) {
      Isa want = best;
      if (std::strcmp(cap, "plain") == 0) want = Isa::kPlain;
      if (std::strcmp(cap, "avx2") == 0) want = Isa::kAvx2;
      if (int(want) < int(best)) best = want;
    }
    return best;
  }();
  return isa;
}

}  // namespace kuai::cpu
