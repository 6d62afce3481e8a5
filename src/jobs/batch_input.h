// Validation of a batch input file (JSONL, one request per line: {custom_id, method, url, body}).
// A file with any structural fault fails validation as a whole, each fault naming its 1-based line:
// a line that is not a JSON object, a missing or repeated custom_id, a method other than POST, a url
// that is not a batch endpoint or not the batch's endpoint, a body that is not an object, more lines
// than allowed. What the body says is not checked here: a body the endpoint rejects becomes that
// line's error line when it runs (one bad request never kills a batch).
#pragma once

#include "jobs/store.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::jobs {

struct LineError {
  std::string code;
  std::string message;
  std::string param;
  int64_t line = 0;
};

struct BatchInput {
  std::vector<BatchLine> lines;
  std::vector<LineError> errors;  // at most kMaxReportedErrors
};

inline constexpr size_t kMaxReportedErrors = 100;

// "/v1/chat/completions", "/v1/completions" or "/v1/embeddings".
bool is_batch_endpoint(std::string_view url);

BatchInput parse_batch_input(std::string_view content, std::string_view endpoint, int max_lines);

}  // namespace kuai::jobs
