// The one request-id generator: `prefix` + 24 random hex digits ("chatcmpl-…", "cmpl-…"), as the
// OpenAI API spells response ids. Thread-safety: any thread (a per-thread generator, not for secrets).
#pragma once

#include <string>
#include <string_view>

namespace kuai::api {

std::string new_request_id(std::string_view prefix);

}  // namespace kuai::api
