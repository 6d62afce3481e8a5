#include "stages/registry.h"

namespace kuai::stages {

void register_builtin_stages(pipeline::StageRegistry& registry) {
  (void)registry;
  // One line per stage, e.g.: registry.add("slim", make_slim_stage);
}

}  // namespace kuai::stages
