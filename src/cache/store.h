// The cache's entries and indexes, in process: an exact-match map (hash of namespace + normalised
// query), one HNSW VectorIndex per namespace, LRU order, TTL, several answers per entry, per-namespace
// and per-entry thresholds. A Redis share (redis_share.h) keeps several processes' Stores in step by
// calling put()/erase()/flush_namespace() with what other instances published.
// Times are wall-clock epoch milliseconds (entries are shared across machines through Redis).
// Thread-safety: every public method may be called from any thread (one mutex; each call is short:
// an HNSW search of a few candidates, ~10–100 µs).
#pragma once

#include "cache/guards.h"
#include "cache/query_features.h"
#include "cache/vector_index.h"

#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace kuai::cache {

struct Answer {
  std::string content;
  std::string finish_reason = "stop";
  int64_t completion_tokens = 0;
};

struct Entry {
  uint64_t id = 0;
  std::string ns;          // namespace id (hex of a hash of everything that changes the answer)
  std::string query;       // the query text as asked (features are recomputed from it)
  QueryFeatures features;
  std::vector<float> vec;  // unit vector; empty for an entry only reachable by exact match
  std::vector<Answer> answers;
  size_t next_answer = 0;  // the slot a new answer replaces once answers_per_entry is reached
  double threshold = 0;    // this entry's own threshold (0: the namespace's); raised by mark_wrong
  double last_hit_similarity = 0;  // similarity of the last non-exact hit it served
  double cost_ms = 0;      // how long the answer took to produce (for "latency saved")
  int64_t created_ms = 0;
  int64_t expires_ms = 0;  // 0: never
};

struct StoreConfig {
  double threshold = 0.15;        // similarity a candidate needs before the guards verify it (docs/CONFIG.md)
  int64_t ttl_ms = 3600 * 1000;   // 0: entries never expire
  size_t max_entries = 100000;    // LRU eviction beyond this
  size_t max_bytes = 256u << 20;  // ... or beyond this many bytes of queries, features, vectors and answers
  size_t answers_per_entry = 3;
  size_t candidates = 16;         // nearest neighbours checked by the guards
  GuardConfig guards;
  IndexParams index;              // dim is taken from the first vector of each namespace
};

struct LookupResult {
  enum class Kind { Miss, Hit, Refused };
  Kind kind = Kind::Miss;
  bool exact = false;
  uint64_t entry_id = 0;   // the hit, or the nearest refused candidate
  double similarity = 0;
  Guard guard = Guard::None;  // for Refused
  // The nearest candidate that only the content guard refused (no hard guard: negation, number, entity,
  // direction, polarity, scope): what a model verifier may still accept. 0: none.
  uint64_t grey_entry_id = 0;
  double grey_similarity = 0;
  Answer answer;           // for Hit: one of the entry's answers, picked at random
  size_t answers = 0;      // how many answers the entry holds
  double cost_ms = 0;
};

struct StoreStats {
  size_t entries = 0;
  size_t namespaces = 0;
  size_t vectors = 0;
  size_t evictions = 0;
  size_t expirations = 0;
  size_t index_bytes = 0;
  size_t bytes = 0;  // what max_bytes counts
};

class Store {
 public:
  explicit Store(StoreConfig cfg);

  const StoreConfig& config() const { return cfg_; }

  // Exact match first, then the namespace's index (when `vec` is given) with the guards. `rand01` is a
  // uniform draw in [0, 1) used to pick one of several answers.
  LookupResult lookup(const std::string& ns, const QueryFeatures& f, const std::vector<float>* vec,
                      int64_t now_ms, double rand01);

  // Entry `id` served as a hit (a model verifier accepted it) with one of its answers picked by `rand01`;
  // nullopt when it is gone or expired.
  std::optional<LookupResult> serve(uint64_t id, double similarity, int64_t now_ms, double rand01);

  // Stores an answer for `query`: appended to the entry with the same exact key, or to `add_to` (the
  // entry a deliberate miss skipped), or as a new entry. Returns a copy of the entry as stored (for
  // sharing), or nullopt when nothing was stored (empty answer).
  std::optional<Entry> insert(const std::string& ns, const std::string& query, const QueryFeatures& f,
                              std::vector<float> vec, Answer answer, double cost_ms, int64_t now_ms,
                              std::optional<uint64_t> add_to = std::nullopt, std::optional<uint64_t> id = std::nullopt);

  // Replaces or adds an entry as a whole (from another instance). Keeps its id.
  void put(Entry e, int64_t now_ms);
  bool erase(uint64_t id);
  size_t flush_namespace(const std::string& ns);
  size_t flush_all();
  // A wrong answer: drops the entry's answers and raises its threshold above the similarity of the
  // hit that went wrong, so the same neighbourhood needs a closer query next time. The entry stays as a
  // tombstone (until LRU/TTL) and keeps that threshold when a new answer is stored for it.
  std::optional<Entry> mark_wrong(uint64_t id);

  void set_namespace_threshold(const std::string& ns, double threshold);
  double namespace_threshold(const std::string& ns) const;  // its own, else the configured one
  std::optional<Entry> get(uint64_t id) const;
  std::vector<uint64_t> ids() const;
  StoreStats stats() const;

  // Called (outside the lock) for each entry evicted by LRU or expired, so a share can delete it too.
  void on_evict(std::function<void(uint64_t id)> fn) { on_evict_ = std::move(fn); }

 private:
  struct Slot {
    Entry entry;
    std::list<uint64_t>::iterator lru;
    size_t bytes = 0;  // entry_bytes(entry) when last counted
  };
  struct Namespace {
    std::unique_ptr<VectorIndex> index;
    size_t entries = 0;
    double threshold = 0;  // 0: cfg_.threshold
  };

  static uint64_t exact_key(const std::string& ns, const std::string& normalized);
  void insert_locked(Entry e);
  void erase_locked(uint64_t id);
  void touch_locked(Slot& s);
  // `out` becomes a hit on s's entry (one answer picked by rand01); s is the most recently used now.
  void pick_locked(Slot& s, double sim, bool exact, double rand01, LookupResult& out);
  void recount_locked(Slot& s);  // after the entry's answers changed
  void evict_locked(int64_t now_ms, std::vector<uint64_t>& evicted);
  double threshold_for(const Namespace* ns, const Entry& e) const;

  StoreConfig cfg_;
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Slot> entries_;
  std::unordered_map<uint64_t, uint64_t> exact_;  // exact key → entry id
  std::unordered_map<std::string, Namespace> namespaces_;
  std::list<uint64_t> lru_;  // front: most recently used
  size_t evictions_ = 0, expirations_ = 0;
  size_t bytes_ = 0;  // sum of Slot::bytes
  uint64_t id_state_;
  std::function<void(uint64_t)> on_evict_;
};

uint64_t hash64(std::string_view s, uint64_t seed = 0);

// Ids (entries, namespaces, instances) as the API and Redis keys spell them: 16 lower-case hex digits;
// and back (nullopt unless 1..16 hex digits).
std::string hex_id(uint64_t id);
std::optional<uint64_t> parse_hex_id(std::string_view hex);

}  // namespace kuai::cache
