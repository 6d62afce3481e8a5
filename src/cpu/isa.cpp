#include "cpu/isa.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace kuai::cpu {

namespace {

// AMX-TILE and AMX-INT8 in cpuid, their state enabled in XCR0 (bits 17, 18), and this process granted
// the tile data state (Linux keeps it off until a process asks: ARCH_REQ_XCOMP_PERM for XTILEDATA).
bool amx_usable() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  if (!(d & (1u << 24)) || !(d & (1u << 25))) return false;  // AMX-TILE, AMX-INT8
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE: xgetbv may run
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return false;
#ifdef SYS_arch_prctl
  constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

}  // namespace

std::string_view isa_name(Isa isa) {
  switch (isa) {
    case Isa::kPlain: return "plain";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAmx: return "amx";
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
    if (!avx512) return Isa::kAvx2;
    return amx_usable() ? Isa::kAmx : Isa::kAvx512;
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
      if (std::strcmp(cap, "avx512") == 0) want = Isa::kAvx512;
      if (int(want) < int(best)) best = want;
    }
    return best;
  }();
  return isa;
}

}  // namespace kuai::cpu
