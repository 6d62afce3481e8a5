// AVX-512 (F, BW, VL, VNNI) kernels (compiled with those flags; only called when cpuid reports them).
#include "engine/kernels/type_traits.h"

namespace kuai::engine::kernels {

void fill_avx512(KernelTable&) {}

}  // namespace kuai::engine::kernels
