// The one translation unit that includes hnswlib (its header defines non-inline functions). hnswlib's
// own SIMD distance code is unused: DotSpace hands it kuai's runtime-dispatched kernel, so this TU
// needs no ISA flags and the binary still runs on CPUs without AVX-512.
#include "cache/vector_index.h"

#include "cache/dot.h"

// hnswlib 0.6.2's SSE prefetches read one element past a full neighbour list (`*(datal + j + 1)`,
// hnswalg.h:214), a heap overflow under ASan. The prefetches are all it would use SSE for here (the
// distance is ours), so turn its manual vectorisation off.
#define NO_MANUAL_VECTORIZATION
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <thread>
#include <unordered_set>

namespace kuai::cache {
namespace {

class DotSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit DotSpace(size_t dim) : dim_(dim) {}
  size_t get_data_size() override { return dim_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &distance; }
  void* get_dist_func_param() override { return &dim_; }

 private:
  static float distance(const void* a, const void* b, const void* param) {
    return 1.0f - dot_f32(static_cast<const float*>(a), static_cast<const float*>(b),
                          *static_cast<const size_t*>(param));
  }
  size_t dim_;
};

}  // namespace

struct VectorIndex::Impl {
  IndexParams params;
  DotSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
  std::unordered_set<uint64_t> live;

  explicit Impl(const IndexParams& p) : params(p), space(p.dim) { hnsw = make(std::max<size_t>(p.initial_capacity, 16)); }

  std::unique_ptr<hnswlib::HierarchicalNSW<float>> make(size_t capacity) {
    auto h = std::make_unique<hnswlib::HierarchicalNSW<float>>(&space, capacity, params.m, params.ef_construction);
    h->setEf(params.ef_search);
    return h;
  }

  void make_room() {
    if (hnsw->cur_element_count < hnsw->max_elements_) return;
    if (live.size() * 2 <= hnsw->cur_element_count) {
      // Half or more are deleted: rebuild from the live vectors instead of growing.
      auto fresh = make(std::max<size_t>(hnsw->max_elements_, live.size() * 2 + 16));
      for (uint64_t label : live) {
        std::vector<float> v = hnsw->getDataByLabel<float>(label);
        fresh->addPoint(v.data(), label);
      }
      hnsw = std::move(fresh);
    } else {
      hnsw->resizeIndex(hnsw->max_elements_ * 2);
    }
  }
};

VectorIndex::VectorIndex(const IndexParams& params) : impl_(std::make_unique<Impl>(params)) {}
VectorIndex::~VectorIndex() = default;

size_t VectorIndex::dim() const { return impl_->params.dim; }

void VectorIndex::add(uint64_t label, const float* v) {
  if (!impl_->live.contains(label)) impl_->make_room();
  impl_->hnsw->addPoint(v, label);  // an existing (even deleted) label is updated and undeleted
  impl_->live.insert(label);
}

void VectorIndex::add_batch(const std::vector<uint64_t>& labels, const float* vectors, unsigned threads) {
  auto& h = *impl_->hnsw;
  size_t need = h.cur_element_count + labels.size();
  if (need > h.max_elements_) h.resizeIndex(need);
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < labels.size();) h.addPoint(vectors + i * dim(), labels[i]);
  };
  std::vector<std::thread> pool;
  for (unsigned t = 1; t < std::max(1u, threads); ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  impl_->live.insert(labels.begin(), labels.end());
}

void VectorIndex::remove(uint64_t label) {
  if (impl_->live.erase(label) == 0) return;
  impl_->hnsw->markDelete(label);
}

std::vector<std::pair<uint64_t, float>> VectorIndex::search(const float* q, size_t k) const {
  std::vector<std::pair<uint64_t, float>> out;
  if (impl_->live.empty() || k == 0) return out;
  auto pq = impl_->hnsw->searchKnn(q, k);
  out.resize(pq.size());
  for (size_t i = pq.size(); i-- > 0;) {  // the queue pops the farthest first
    out[i] = {pq.top().second, 1.0f - pq.top().first};
    pq.pop();
  }
  return out;
}

size_t VectorIndex::size() const { return impl_->live.size(); }
size_t VectorIndex::capacity() const { return impl_->hnsw->max_elements_; }

size_t VectorIndex::memory_bytes() const {
  const auto& h = *impl_->hnsw;
  size_t upper = 0;
  for (size_t i = 0; i < h.cur_element_count; ++i)
    upper += static_cast<size_t>(h.element_levels_[i]) * h.size_links_per_element_;
  return h.max_elements_ * (h.size_data_per_element_ + sizeof(void*) + sizeof(int)) + upper +
         impl_->live.size() * 2 * sizeof(uint64_t) + h.label_lookup_.size() * 3 * sizeof(uint64_t);
}

}  // namespace kuai::cache
