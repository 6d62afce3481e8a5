#include "pipeline/services.h"

#include "text/estimate.h"

namespace kuai::pipeline {

int64_t Services::count_tokens(std::string_view public_model, std::string_view text) const {
  return tokens ? tokens->count(public_model, text) : text::estimate_tokens(text);
}

}  // namespace kuai::pipeline
