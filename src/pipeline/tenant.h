// The request's tenant as the pipeline names it; the type lives in api/tenant.h so that upstream/
// (below the pipeline) can apply its tier without knowing the pipeline.
#pragma once

#include "api/tenant.h"

namespace kuai::pipeline {

using Tenant = api::Tenant;

}  // namespace kuai::pipeline
