// A tenant is who pays for a request: found from the API key (config `tenants`). The tier sets its
// concurrency limit and priority in the dispatcher.
#pragma once

#include <string>

namespace kuai::pipeline {

struct Tenant {
  std::string name = "anonymous";
  std::string tier = "default";
  int max_concurrency = 0;  // 0: unlimited
  int priority = 0;         // higher is served first when a backend is saturated
};

}  // namespace kuai::pipeline
