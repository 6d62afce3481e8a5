#include "pipeline/services.h"

#include "text/estimate.h"

namespace kuai::pipeline {

int64_t Services::count_tokens(std::string_view public_model, std::string_view text) const {
  return tokens ? tokens->count(public_model, text) : text::estimate_tokens(text);
}

api::ChatRequest instruction_request(std::string model, std::string system, std::string user, int64_t max_tokens) {
  api::ChatRequest req;
  req.model = std::move(model);
  req.temperature = 0.0;
  req.max_tokens = max_tokens;
  req.raw = {{"model", req.model}, {"max_tokens", max_tokens}, {"temperature", 0.0}};
  api::Message sys, usr;
  sys.role = "system";
  sys.content = std::move(system);
  usr.role = "user";
  usr.content = std::move(user);
  req.messages = {std::move(sys), std::move(usr)};
  return req;
}

}  // namespace kuai::pipeline
