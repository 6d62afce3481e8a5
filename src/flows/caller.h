// How a flow's model steps reach a model. The flows module owns the interface; the server implements
// it so that every step call is a live request (stages, cache, routing, the tenant's tier, the
// dispatcher's retries and fallback) — see server/flow_caller.cpp.
// Threads: called on the run's executor (one strand); implementations never block it.
#pragma once

#include "api/chat.h"

#include <boost/asio/awaitable.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace kuai::flows {

struct CallResult {
  std::string text;
  std::string model;             // the public model that answered (after routing)
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string cache;             // the cache stage's decision (x-kuai-cache), "" when it did not run
  std::string route;             // the route stage's decision ("intent→target by rules"), "" when none
};

// Each piece of answer text as it arrives (a streamed step).
using DeltaFn = std::function<void(std::string_view)>;

class StepCaller {
 public:
  virtual ~StepCaller() = default;
  // Failures are thrown (api::Error). Cancellation (asio terminal) stops the call.
  virtual boost::asio::awaitable<CallResult> call(api::ChatRequest req, DeltaFn on_delta) = 0;
  virtual bool has_model(std::string_view public_name) const = 0;
};

}  // namespace kuai::flows
