// An approximate nearest-neighbour index of unit vectors (one per cache namespace): hnswlib's HNSW
// graph with kuai's own dot-product kernel (dot.h: AVX-512 / AVX2 / scalar, chosen at run time).
// Labels are the caller's 64-bit entry ids. Deleting marks the node deleted (hnswlib 0.6 cannot reuse
// a slot); when the index is full and at least half of it is deleted, add() rebuilds it from the live
// vectors, otherwise it doubles the capacity.
// Not thread-safe: the owner (cache::Store) serialises every call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

namespace kuai::cache {

struct IndexParams {
  size_t dim = 512;
  size_t initial_capacity = 1024;
  size_t m = 16;                 // graph degree (hnswlib M)
  size_t ef_construction = 100;
  size_t ef_search = 64;
};

class VectorIndex {
 public:
  explicit VectorIndex(const IndexParams& params);
  ~VectorIndex();
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  size_t dim() const;
  // `v` has dim() floats. Adding an existing label replaces its vector.
  void add(uint64_t label, const float* v);
  void remove(uint64_t label);  // no-op for an unknown label
  // Adds many new labels at once on `threads` threads (hnswlib's concurrent insert); `vectors` holds
  // labels.size() × dim() floats. For bulk loads and benchmarks; labels must not be present yet.
  void add_batch(const std::vector<uint64_t>& labels, const float* vectors, unsigned threads);
  // Up to k (label, cosine similarity) pairs, most similar first.
  std::vector<std::pair<uint64_t, float>> search(const float* q, size_t k) const;

  size_t size() const;         // live vectors
  size_t capacity() const;
  size_t memory_bytes() const; // vectors + graph, approximate (hnswlib's own allocations)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kuai::cache
