#include "stages/registry.h"

#include "stages/extract.h"
#include "stages/route.h"

namespace kuai::stages {

void register_builtin_stages(pipeline::StageRegistry& registry) {
  (void)registry;
  // One line per stage, e.g.: registry.add("slim", make_slim_stage);
  registry.add("route", make_route_stage);
  registry.add("extract", make_extract_stage);
}

}  // namespace kuai::stages
