// The built-in stages, by name. One line per stage in registry.cpp.
#pragma once

#include "pipeline/pipeline.h"

namespace kuai::stages {

void register_builtin_stages(pipeline::StageRegistry& registry);

}  // namespace kuai::stages
