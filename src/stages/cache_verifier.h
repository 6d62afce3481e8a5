// The semantic cache's optional model verifier (`stages.cache.verifier_model`): a candidate that only
// the content guard refused (its words differ, but no hard guard — negation, numbers, entities,
// direction, polarity, scope — saw another question) is shown with the new query to a public model,
// asked whether one answer serves both. "yes" serves the cached answer; "no", an unclear reply, an
// error or no reply within the latency budget is a miss (never a wrong hit for want of a verdict).
// Verdicts are remembered per pair of queries; a reply that comes after the budget is still remembered,
// so the next time the pair is asked it is answered at once; lookups of a pair whose call is under way
// wait for that call instead of making another.
// Thread-safety: any thread; the verdict memo is locked.
#pragma once

#include "api/chat.h"
#include "api/tenant.h"
#include "cache/store.h"
#include "pipeline/services.h"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace kuai::stages {

struct CacheVerifierConfig {
  std::string model;              // public model (models.<name>); empty: no verifier
  int64_t budget_ms = 400;        // how long a lookup waits for the verdict
  double min_similarity = 0.3;    // grey zone: candidates at least this close (cosine) are asked about
  size_t max_verdicts = 65536;    // remembered pairs (the oldest forgotten first)
};

// Whether a lookup that did not hit has a candidate in the verifier's grey zone: one only the content
// guard refused, at `min_similarity` or closer.
bool in_grey_zone(const cache::LookupResult& r, const CacheVerifierConfig& cfg);

// How a verification ended (the metric's `outcome` label and the x-kuai-cache-verifier header).
enum class VerifyOutcome { Yes, No, Unclear, Error, Timeout };
std::string_view verify_outcome_name(VerifyOutcome o);  // yes | no | unclear | error | timeout

class CacheVerifier {
 public:
  explicit CacheVerifier(CacheVerifierConfig cfg);
  const CacheVerifierConfig& config() const { return cfg_; }

  // The model's verdict on serving `cached`'s answer to `query` (the two queries as asked), within the
  // budget; `remembered` says it came from the memo.
  boost::asio::awaitable<VerifyOutcome> verify(const std::string& cached, const std::string& query,
                                               pipeline::Services& services, const api::Tenant& tenant,
                                               bool* remembered = nullptr);

  // The call: a yes/no instruction and the two questions; temperature 0, at most 3 tokens.
  static api::ChatRequest request(const std::string& model, std::string_view cached, std::string_view query);
  // "yes" / "no" (any case, surrounding punctuation or a following explanation), else Unclear.
  static VerifyOutcome parse(std::string_view reply);

  struct Memo;  // the verdicts by pair (cache_verifier.cpp)

 private:
  CacheVerifierConfig cfg_;
  std::shared_ptr<Memo> memo_;  // shared with a call that outlives its lookup's budget
};

}  // namespace kuai::stages
