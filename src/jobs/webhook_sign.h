// Standard Webhooks signing (standardwebhooks.com): a secret is `whsec_` + base64 of the key; the
// signature of a delivery is `v1,` + base64(HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")),
// one per secret, space-separated (several during a rotation). Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::jobs {

// The key of a `whsec_…` secret, or nullopt when it is not one.
std::optional<std::string> webhook_secret_key(std::string_view secret);

// The `webhook-signature` header value for these secrets (each must be valid: see webhook_secret_key).
std::string webhook_signature(const std::vector<std::string>& secrets, std::string_view id, int64_t timestamp,
                              std::string_view body);

}  // namespace kuai::jobs
