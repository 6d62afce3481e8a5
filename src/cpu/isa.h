// The instruction-set levels kuai's SIMD files are built for, and the one place that asks cpuid which of
// them this CPU runs (engine kernels, KV conversion, the semantic cache's dot product all dispatch here).
// Each level is exactly the set of -m flags cmake/KuaiModules.cmake gives files named *_avx2.cpp and
// *_avx512.cpp; a level is reported only when cpuid reports every one of its features, so a file is
// never called on a CPU that lacks an instruction it was allowed to use.
//   avx2:   AVX2, FMA, F16C
//   avx512: the avx2 features plus AVX-512 F, BW, VL, DQ, VNNI (Ice Lake and Cascade Lake Xeons, Zen 4/5;
//           no AVX512-BF16: no kernel uses its instructions, and requiring it sent every Intel CPU before
//           Sapphire Rapids to the avx2 kernels: no int8_gemm, the reference attention)
//   amx:    the avx512 features plus AMX-TILE and AMX-INT8 (Sapphire Rapids and later Xeons), with the
//           tile state enabled by the OS (XCR0) and granted to this process (Linux arch_prctl
//           ARCH_REQ_XCOMP_PERM, asked once here); files named *_amx.cpp
// KUAI_ISA=plain|avx2|avx512|amx caps the level for the whole process (tests run the kernels once per
// level this way; a value above what the CPU has changes nothing). Any thread; computed once.
#pragma once

#include <string_view>

namespace kuai::cpu {

enum class Isa { kPlain = 0, kAvx2 = 1, kAvx512 = 2, kAmx = 3 };

std::string_view isa_name(Isa isa);

// The highest level whose every feature cpuid reports (no KUAI_ISA cap).
Isa cpu_isa();

// cpu_isa() capped by KUAI_ISA: the level every dispatching file uses.
Isa isa_level();

inline bool isa_at_least(Isa level) { return int(isa_level()) >= int(level); }

}  // namespace kuai::cpu
