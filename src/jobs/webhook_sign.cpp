#include "jobs/webhook_sign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace kuai::jobs {

namespace {

std::string base64(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

}  // namespace

std::optional<std::string> webhook_secret_key(std::string_view secret) {
  constexpr std::string_view kPrefix = "whsec_";
  if (secret.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view b64 = secret.substr(kPrefix.size());
  if (b64.empty() || b64.size() % 4 != 0) return std::nullopt;
  std::string key(b64.size() / 4 * 3, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(key.data()), reinterpret_cast<const unsigned char*>(b64.data()),
                          static_cast<int>(b64.size()));
  if (n < 0) return std::nullopt;
  // EVP_DecodeBlock counts the '=' padding as zero bytes.
  size_t pad = (b64.back() == '=') + (b64.size() > 1 && b64[b64.size() - 2] == '=');
  key.resize(static_cast<size_t>(n) - pad);
  if (key.empty()) return std::nullopt;
  return key;
}

std::string webhook_signature(const std::vector<std::string>& secrets, std::string_view id, int64_t timestamp,
                              std::string_view body) {
  std::string msg;
  msg.reserve(id.size() + body.size() + 24);
  msg.append(id).append(".").append(std::to_string(timestamp)).append(".").append(body);
  std::string out;
  for (const auto& s : secrets) {
    auto key = webhook_secret_key(s);
    if (!key) continue;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha256(), key->data(), static_cast<int>(key->size()), reinterpret_cast<const unsigned char*>(msg.data()),
         msg.size(), mac, &len);
    if (!out.empty()) out += ' ';
    out += "v1," + base64(std::string_view(reinterpret_cast<const char*>(mac), len));
  }
  return out;
}

}  // namespace kuai::jobs
