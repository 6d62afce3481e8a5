// Standard Webhooks signing against the specification's published example, and secret parsing.
#include "jobs/webhook_sign.h"

#include <gtest/gtest.h>

namespace kuai::jobs {
namespace {

TEST(WebhookSign, MatchesTheStandardWebhooksExample) {
  EXPECT_EQ(webhook_signature({"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                              R"({"test": 2432232314})"),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
}

TEST(WebhookSign, EverySecretSignsDuringARotation) {
  std::string two = webhook_signature({"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_c2Vjb25kIGtleQ=="}, "m", 1, "{}");
  auto space = two.find(' ');
  ASSERT_NE(space, std::string::npos);
  EXPECT_EQ(two.substr(0, space), webhook_signature({"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "m", 1, "{}"));
  EXPECT_EQ(two.substr(space + 1), webhook_signature({"whsec_c2Vjb25kIGtleQ=="}, "m", 1, "{}"));
  EXPECT_NE(webhook_signature({"whsec_c2Vjb25kIGtleQ=="}, "m", 1, "{}"), webhook_signature({"whsec_c2Vjb25kIGtleQ=="}, "m", 2, "{}"));
}

TEST(WebhookSign, SecretsMustBeWhsecBase64) {
  EXPECT_EQ(webhook_secret_key("whsec_c2Vjb25kIGtleQ==").value_or(""), "second key");
  EXPECT_FALSE(webhook_secret_key("second key"));
  EXPECT_FALSE(webhook_secret_key("whsec_"));
  EXPECT_FALSE(webhook_secret_key("whsec_abc"));
  EXPECT_FALSE(webhook_secret_key("whsec_!!!!"));
}

}  // namespace
}  // namespace kuai::jobs
