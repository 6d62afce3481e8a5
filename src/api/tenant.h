// A tenant is who pays for a request: found from the API key (config `tenants`). The tier sets its
// concurrency limit and priority in the dispatcher. Here, below both pipeline/ and upstream/, because
// both read it (the pipeline's Context carries it; upstream's TierLimiter applies it).
#pragma once

#include <string>

namespace kuai::api {

struct Tenant {
  std::string name = "anonymous";
  std::string tier = "default";
  int max_concurrency = 0;  // 0: unlimited
  int priority = 0;         // higher is served first when a backend is saturated
};

}  // namespace kuai::api
