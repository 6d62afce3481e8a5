#include "stages/registry.h"

#include "stages/extract.h"
#include "stages/route.h"
#include "stages/semantic_cache.h"
#include "stages/slim.h"
#include "stages/summarize.h"
#include "stages/window.h"

namespace kuai::stages {

void register_builtin_stages(pipeline::StageRegistry& registry) {
  // One line per stage, in the canonical order (a pipeline built from `stages.<name>` keys alone runs
  // them in this order): the input stages shrink the request first (slim before summarize, summarize
  // before window, so the summary sees the turns the window drops); the cache then looks up what will
  // be sent, under the model the client named (before route); extract condenses documents last, only on
  // a cache miss and for the routed model.
  registry.add("slim", make_slim_stage, "removes filler and pleasantries that carry no fact");
  registry.add("summarize", make_summarize_stage, "folds old turns into a summary of their facts");
  registry.add("window", make_window_stage, "keeps the newest turns (stages.window.max_tokens or max_turns)");
  registry.add("cache", make_cache_stage, "answers repeated and paraphrased questions from the semantic cache");
  registry.add("route", make_route_stage, "sends easy requests to a small model, hard ones to a large one");
  registry.add("extract", make_extract_stage, "condenses long documents with a small model first");
}

}  // namespace kuai::stages
