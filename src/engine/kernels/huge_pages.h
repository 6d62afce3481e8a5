// Memory the engine streams through on every token (the packed weights, the KV arena): 2 MiB-aligned,
// whole 2 MiB pages, and advised as transparent huge pages. With 4 KiB pages a weight stream costs a TLB
// miss every 4 KiB, which under a hypervisor's nested paging is a long walk: on a 2-core KVM Xeon
// (lscpu model 167), TinyLlama Q4_0 decode ran 42-44 tokens/s on 4 KiB pages and 50-51 on huge pages,
// same binary, same run.
// Where THP is off (`/sys/kernel/mm/transparent_hugepage/enabled` = never) the advice changes nothing.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kuai::engine::kernels {

constexpr size_t kHugePageBytes = size_t(2) << 20;

// Uninitialised bytes (committed only when touched), at least `bytes` of them; free with std::free.
// Throws std::bad_alloc when there is no memory.
uint8_t* huge_page_alloc(size_t bytes);

}  // namespace kuai::engine::kernels
