#include "cache/store.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <random>

namespace kuai::cache {

uint64_t hash64(std::string_view s, uint64_t seed) {
  uint64_t h = 1469598103934665603ULL ^ (seed * 0x9e3779b97f4a7c15ULL);
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}

std::string hex_id(uint64_t id) { return fmt::format("{:016x}", id); }

std::optional<uint64_t> parse_hex_id(std::string_view hex) {
  uint64_t v = 0;
  if (hex.empty() || hex.size() > 16) return std::nullopt;
  auto [end, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), v, 16);
  if (ec != std::errc() || end != hex.data() + hex.size()) return std::nullopt;
  return v;
}

Store::Store(StoreConfig cfg) : cfg_(std::move(cfg)) {
  std::random_device rd;
  id_state_ = (uint64_t(rd()) << 32) ^ rd() ^
              uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  if (cfg_.answers_per_entry == 0) cfg_.answers_per_entry = 1;
  if (cfg_.candidates == 0) cfg_.candidates = 1;
}

uint64_t Store::exact_key(const std::string& ns, const std::string& normalized) {
  return hash64(normalized, hash64(ns));
}

double Store::threshold_for(const Namespace* ns, const Entry& e) const {
  double base = ns && ns->threshold > 0 ? ns->threshold : cfg_.threshold;
  return std::max(base, e.threshold);
}

void Store::touch_locked(Slot& s) { lru_.splice(lru_.begin(), lru_, s.lru); }

namespace {

size_t strings_bytes(const std::vector<std::string>& v) {
  size_t n = v.capacity() * sizeof(std::string);
  for (const auto& s : v) n += s.capacity();
  return n;
}

// What an entry holds in memory, near enough for a budget: its texts, features, vector (also in the
// index) and answers, plus a fixed overhead for the maps and the index node.
size_t entry_bytes(const Entry& e) {
  const QueryFeatures& f = e.features;
  size_t n = 256 + e.ns.capacity() + e.query.capacity() + f.normalized.capacity() + strings_bytes(f.words) +
             strings_bytes(f.terms) + strings_bytes(f.numbers) + strings_bytes(f.entities) + strings_bytes(f.content) +
             2 * e.vec.size() * sizeof(float);
  for (const auto& a : e.answers) n += sizeof(Answer) + a.content.capacity() + a.finish_reason.capacity();
  return n;
}

}  // namespace

void Store::recount_locked(Slot& s) {
  bytes_ -= s.bytes;
  s.bytes = entry_bytes(s.entry);
  bytes_ += s.bytes;
}

void Store::insert_locked(Entry e) {
  uint64_t id = e.id;
  exact_[exact_key(e.ns, e.features.normalized)] = id;
  Namespace& ns = namespaces_[e.ns];
  ++ns.entries;
  if (!e.vec.empty()) {
    if (!ns.index) {
      IndexParams p = cfg_.index;
      p.dim = e.vec.size();
      ns.index = std::make_unique<VectorIndex>(p);
    }
    if (ns.index->dim() == e.vec.size()) ns.index->add(id, e.vec.data());
  }
  lru_.push_front(id);
  size_t bytes = entry_bytes(e);
  bytes_ += bytes;
  entries_[id] = Slot{std::move(e), lru_.begin(), bytes};
}

void Store::erase_locked(uint64_t id) {
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  const Entry& e = it->second.entry;
  auto ex = exact_.find(exact_key(e.ns, e.features.normalized));
  if (ex != exact_.end() && ex->second == id) exact_.erase(ex);
  auto ns = namespaces_.find(e.ns);
  if (ns != namespaces_.end()) {
    if (ns->second.index) ns->second.index->remove(id);
    if (--ns->second.entries == 0 && ns->second.threshold <= 0) namespaces_.erase(ns);
  }
  lru_.erase(it->second.lru);
  bytes_ -= it->second.bytes;
  entries_.erase(it);
}

void Store::evict_locked(int64_t now_ms, std::vector<uint64_t>& evicted) {
  while (!lru_.empty()) {
    const Entry& e = entries_.at(lru_.back()).entry;
    if (e.expires_ms == 0 || e.expires_ms > now_ms) break;
    evicted.push_back(e.id);
    erase_locked(e.id);
    ++expirations_;
  }
  while ((entries_.size() > cfg_.max_entries || bytes_ > cfg_.max_bytes) && !lru_.empty()) {
    uint64_t id = lru_.back();
    evicted.push_back(id);
    erase_locked(id);
    ++evictions_;
  }
}

LookupResult Store::lookup(const std::string& ns_id, const QueryFeatures& f, const std::vector<float>* vec,
                           int64_t now_ms, double rand01) {
  LookupResult out;
  std::vector<uint64_t> expired;
  {
    std::lock_guard lock(mu_);
    auto pick = [&](Slot& s, double sim, bool exact) { pick_locked(s, sim, exact, rand01, out); };
    auto live = [&](Slot& s) {
      if (s.entry.expires_ms != 0 && s.entry.expires_ms <= now_ms) {
        if (std::find(expired.begin(), expired.end(), s.entry.id) == expired.end()) expired.push_back(s.entry.id);
        return false;
      }
      return !s.entry.answers.empty();
    };
    auto ex = exact_.find(exact_key(ns_id, f.normalized));
    if (ex != exact_.end()) {
      Slot& s = entries_.at(ex->second);
      if (live(s)) pick(s, 1.0, true);
    }
    auto ns = namespaces_.find(ns_id);
    if (out.kind == LookupResult::Kind::Miss && vec && ns != namespaces_.end() && ns->second.index &&
        ns->second.index->dim() == vec->size()) {
      // Every candidate is verified; the one whose words agree best with the query answers (the
      // nearest by cosine is not always the same question).
      Slot* best = nullptr;
      double best_agreement = -1, best_sim = 0;
      GuardConfig guards = cfg_.guards;
      for (const auto& [label, sim] : ns->second.index->search(vec->data(), cfg_.candidates)) {
        auto it = entries_.find(label);
        if (it == entries_.end() || !live(it->second)) continue;
        if (sim < threshold_for(&ns->second, it->second.entry)) continue;
        double agreement = 0;
        guards.wording_trusted = sim >= cfg_.guards.content_trusted_similarity;
        Guard g = check_guards(it->second.entry.features, f, guards, &agreement);
        if (g != Guard::None) {
          if (out.kind == LookupResult::Kind::Miss) {
            out.kind = LookupResult::Kind::Refused;
            out.guard = g;
            out.entry_id = label;
            out.similarity = sim;
          }
          if (g == Guard::Content && out.grey_entry_id == 0) {
            out.grey_entry_id = label;
            out.grey_similarity = sim;
          }
          continue;
        }
        if (agreement > best_agreement) {
          best = &it->second;
          best_agreement = agreement;
          best_sim = sim;
        }
      }
      if (best) pick(*best, best_sim, false);
    }
    for (uint64_t id : expired) {
      erase_locked(id);
      ++expirations_;
    }
  }
  if (on_evict_)
    for (uint64_t id : expired) on_evict_(id);
  return out;
}

void Store::pick_locked(Slot& s, double sim, bool exact, double rand01, LookupResult& out) {
  touch_locked(s);
  Entry& e = s.entry;
  if (!exact) e.last_hit_similarity = sim;
  size_t i = std::min(e.answers.size() - 1, static_cast<size_t>(rand01 * double(e.answers.size())));
  out.kind = LookupResult::Kind::Hit;
  out.exact = exact;
  out.entry_id = e.id;
  out.similarity = sim;
  out.answer = e.answers[i];
  out.answers = e.answers.size();
  out.cost_ms = e.cost_ms;
}

std::optional<LookupResult> Store::serve(uint64_t id, double similarity, int64_t now_ms, double rand01) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.entry.answers.empty()) return std::nullopt;
  if (it->second.entry.expires_ms != 0 && it->second.entry.expires_ms <= now_ms) return std::nullopt;
  LookupResult out;
  pick_locked(it->second, similarity, false, rand01, out);
  return out;
}

std::optional<Entry> Store::insert(const std::string& ns, const std::string& query, const QueryFeatures& f,
                                   std::vector<float> vec, Answer answer, double cost_ms, int64_t now_ms,
                                   std::optional<uint64_t> add_to, std::optional<uint64_t> id) {
  if (answer.content.empty()) return std::nullopt;
  std::optional<Entry> out;
  std::vector<uint64_t> evicted;
  {
    std::lock_guard lock(mu_);
    Slot* target = nullptr;
    auto ex = exact_.find(exact_key(ns, f.normalized));
    if (ex != exact_.end()) target = &entries_.at(ex->second);
    if (!target && add_to) {
      auto it = entries_.find(*add_to);
      if (it != entries_.end() && it->second.entry.ns == ns) target = &it->second;
    }
    if (target) {
      Entry& e = target->entry;
      bool duplicate = std::any_of(e.answers.begin(), e.answers.end(),
                                   [&](const Answer& a) { return a.content == answer.content; });
      if (!duplicate) {
        if (e.answers.size() < cfg_.answers_per_entry) {
          e.answers.push_back(std::move(answer));
        } else {
          e.answers[e.next_answer % e.answers.size()] = std::move(answer);
          e.next_answer = (e.next_answer + 1) % e.answers.size();
        }
      }
      if (e.cost_ms <= 0) e.cost_ms = cost_ms;
      e.expires_ms = cfg_.ttl_ms > 0 ? now_ms + cfg_.ttl_ms : 0;
      touch_locked(*target);
      recount_locked(*target);
      out = e;
    } else {
      Entry e;
      if (id) {
        e.id = *id;
      } else {
        do {  // splitmix64 over a random seed: ids are unique across instances sharing Redis
          uint64_t z = (id_state_ += 0x9e3779b97f4a7c15ULL);
          z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
          z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
          e.id = (z ^ (z >> 31)) & 0x7fffffffffffffffULL;
        } while (e.id == 0 || entries_.contains(e.id));
      }
      e.ns = ns;
      e.query = query;
      e.features = f;
      e.vec = std::move(vec);
      e.answers.push_back(std::move(answer));
      e.cost_ms = cost_ms;
      e.created_ms = now_ms;
      e.expires_ms = cfg_.ttl_ms > 0 ? now_ms + cfg_.ttl_ms : 0;
      out = e;
      erase_locked(e.id);
      insert_locked(std::move(e));
    }
    evict_locked(now_ms, evicted);
  }
  if (on_evict_)
    for (uint64_t victim : evicted) on_evict_(victim);
  return out;
}

void Store::put(Entry e, int64_t now_ms) {
  std::vector<uint64_t> evicted;
  {
    std::lock_guard lock(mu_);
    if (e.expires_ms != 0 && e.expires_ms <= now_ms) {
      erase_locked(e.id);
      return;
    }
    erase_locked(e.id);
    insert_locked(std::move(e));
    evict_locked(now_ms, evicted);
  }
  if (on_evict_)
    for (uint64_t victim : evicted) on_evict_(victim);
}

bool Store::erase(uint64_t id) {
  std::lock_guard lock(mu_);
  if (!entries_.contains(id)) return false;
  erase_locked(id);
  return true;
}

size_t Store::flush_namespace(const std::string& ns) {
  std::lock_guard lock(mu_);
  std::vector<uint64_t> victims;
  for (const auto& [id, slot] : entries_)
    if (slot.entry.ns == ns) victims.push_back(id);
  for (uint64_t id : victims) erase_locked(id);
  return victims.size();
}

size_t Store::flush_all() {
  std::lock_guard lock(mu_);
  size_t n = entries_.size();
  entries_.clear();
  exact_.clear();
  lru_.clear();
  bytes_ = 0;
  for (auto it = namespaces_.begin(); it != namespaces_.end();) {
    it->second.index.reset();
    it->second.entries = 0;
    it = it->second.threshold > 0 ? std::next(it) : namespaces_.erase(it);
  }
  return n;
}

std::optional<Entry> Store::mark_wrong(uint64_t id) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  Entry& e = it->second.entry;
  auto ns = namespaces_.find(e.ns);
  double base = std::max(threshold_for(ns == namespaces_.end() ? nullptr : &ns->second, e), e.last_hit_similarity);
  e.threshold = std::min(0.999, base + (1.0 - base) / 2);
  e.answers.clear();
  e.next_answer = 0;
  recount_locked(it->second);
  return e;
}

void Store::set_namespace_threshold(const std::string& ns, double threshold) {
  std::lock_guard lock(mu_);
  namespaces_[ns].threshold = threshold;
}

double Store::namespace_threshold(const std::string& ns) const {
  std::lock_guard lock(mu_);
  auto it = namespaces_.find(ns);
  return it != namespaces_.end() && it->second.threshold > 0 ? it->second.threshold : cfg_.threshold;
}

std::optional<Entry> Store::get(uint64_t id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.entry;
}

std::vector<uint64_t> Store::ids() const {
  std::lock_guard lock(mu_);
  std::vector<uint64_t> out;
  out.reserve(entries_.size());
  for (const auto& [id, _] : entries_) out.push_back(id);
  return out;
}

StoreStats Store::stats() const {
  std::lock_guard lock(mu_);
  StoreStats s;
  s.entries = entries_.size();
  s.namespaces = namespaces_.size();
  for (const auto& [_, ns] : namespaces_) {
    if (!ns.index) continue;
    s.vectors += ns.index->size();
    s.index_bytes += ns.index->memory_bytes();
  }
  s.evictions = evictions_;
  s.expirations = expirations_;
  s.bytes = bytes_;
  return s;
}

}  // namespace kuai::cache
