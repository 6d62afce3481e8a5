// The one error type the gateway raises for anything a client should see. The HTTP edge (server) turns
// it into an OpenAI error body: {"error": {"message", "type", "param", "code"}} with `status`.
#pragma once

#include <stdexcept>
#include <string>

namespace kuai::api {

class Error : public std::runtime_error {
 public:
  Error(int status, std::string type, std::string message, std::string code = {}, std::string param = {})
      : std::runtime_error(message), status_(status), type_(std::move(type)), code_(std::move(code)),
        param_(std::move(param)) {}

  int status() const { return status_; }
  const std::string& type() const { return type_; }
  const std::string& code() const { return code_; }
  const std::string& param() const { return param_; }
  std::string body() const;  // the JSON text of the OpenAI error object

  // Upstream-supplied delay before a retry (429/503 Retry-After), in milliseconds; 0 when none.
  int retry_after_ms = 0;

  static Error bad_request(std::string msg, std::string param = {}) {
    return Error(400, "invalid_request_error", std::move(msg), {}, std::move(param));
  }
  static Error unauthorized(std::string msg) { return Error(401, "invalid_request_error", std::move(msg), "invalid_api_key"); }
  static Error not_found(std::string msg, std::string code = "model_not_found") {
    return Error(404, "invalid_request_error", std::move(msg), std::move(code));
  }
  static Error too_large(std::string msg) { return Error(413, "invalid_request_error", std::move(msg), "request_too_large"); }
  static Error rate_limited(std::string msg) { return Error(429, "rate_limit_error", std::move(msg), "rate_limit_exceeded"); }
  static Error internal(std::string msg) { return Error(500, "server_error", std::move(msg)); }
  static Error bad_gateway(std::string msg) { return Error(502, "upstream_error", std::move(msg), "bad_gateway"); }
  static Error unavailable(std::string msg) { return Error(503, "upstream_error", std::move(msg), "service_unavailable"); }
  static Error timeout(std::string msg) { return Error(504, "upstream_error", std::move(msg), "timeout"); }

 private:
  int status_;
  std::string type_, code_, param_;
};

}  // namespace kuai::api
