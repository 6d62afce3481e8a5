#include "stages/registry.h"

#include "stages/extract.h"
#include "stages/route.h"
#include "stages/semantic_cache.h"
#include "stages/slim.h"
#include "stages/summarize.h"
#include "stages/window.h"

namespace kuai::stages {

void register_builtin_stages(pipeline::StageRegistry& registry) {
  (void)registry;
  // One line per stage, e.g.: registry.add("slim", make_slim_stage);
  registry.add("slim", make_slim_stage);
  registry.add("window", make_window_stage);
  registry.add("summarize", make_summarize_stage);
  registry.add("route", make_route_stage);
  registry.add("extract", make_extract_stage);
  registry.add("cache", make_cache_stage);
}

}  // namespace kuai::stages
