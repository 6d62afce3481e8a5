// AVX2 + FMA + F16C kernels (compiled with those flags; only called when cpuid reports them).
#include "engine/kernels/type_traits.h"

namespace kuai::engine::kernels {

void fill_avx2(KernelTable&) {}

}  // namespace kuai::engine::kernels
