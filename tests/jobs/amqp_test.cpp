// The RabbitMQ layer against a real broker (started by the test on free loopback ports): URL parsing,
// durable topology, publisher confirms, manual acks, redelivery of what a closed connection held, and
// dead-lettering into Q.dead.
#include "jobs/amqp.h"

#include "support/rabbitmq.h"

#include <gtest/gtest.h>

#include <map>
#include <unistd.h>

namespace kuai::jobs {
namespace {

using test::RabbitMq;
using namespace std::chrono_literals;

TEST(AmqpUrl, ParsesUserHostPortAndVhost) {
  auto u = std::get<AmqpUrl>(AmqpUrl::parse("amqp://ann:s%40cret@mq.local:5673/prod"));
  EXPECT_EQ(u.user, "ann");
  EXPECT_EQ(u.password, "s@cret");
  EXPECT_EQ(u.host, "mq.local");
  EXPECT_EQ(u.port, 5673);
  EXPECT_EQ(u.vhost, "prod");
  EXPECT_EQ(u.redacted().find("cret"), std::string::npos) << "no password in logs";
  auto d = std::get<AmqpUrl>(AmqpUrl::parse("amqp://127.0.0.1/%2f"));
  EXPECT_EQ(d.vhost, "/");
  EXPECT_EQ(d.port, 5672);
  EXPECT_EQ(d.user, "guest");
  EXPECT_EQ(std::get<AmqpUrl>(AmqpUrl::parse("amqp://h:1")).vhost, "/");
  EXPECT_TRUE(std::holds_alternative<std::string>(AmqpUrl::parse("amqps://h/")));
  EXPECT_TRUE(std::holds_alternative<std::string>(AmqpUrl::parse("http://h/")));
  EXPECT_TRUE(std::holds_alternative<std::string>(AmqpUrl::parse("amqp://h:99999/")));
  EXPECT_TRUE(std::holds_alternative<std::string>(AmqpUrl::parse("amqp://h/%zz")));
  EXPECT_TRUE(std::holds_alternative<std::string>(AmqpUrl::parse("amqp:///")));
}

TEST(AmqpChannel, AnUnreachableBrokerIsAnError) {
  auto u = std::get<AmqpUrl>(AmqpUrl::parse("amqp://127.0.0.1:" + std::to_string(test::free_port()) + "/"));
  EXPECT_THROW(AmqpChannel(u, "kuai.unreachable"), AmqpError);
}

std::string queue_name(const char* what) { return std::string("kuai.test.") + what + "." + std::to_string(::getpid()); }

std::optional<AmqpDelivery> next_of(AmqpChannel& c, std::chrono::milliseconds within = 5000ms) {
  auto deadline = std::chrono::steady_clock::now() + within;
  while (std::chrono::steady_clock::now() < deadline)
    if (auto d = c.next(50ms)) return d;
  return std::nullopt;
}

// Confirmed messages survive their consumer's connection: unacked ones come back marked redelivered
// with their headers; acked ones never come back; a rejected one lands in Q.dead.
TEST(AmqpChannel, ConfirmsAcksRedeliveryAndDeadLetters) {
  RabbitMq* mq = RabbitMq::shared();
  if (!mq) GTEST_SKIP() << "rabbitmq-server is not installed (" << RabbitMq::kServer << ")";
  auto url = std::get<AmqpUrl>(AmqpUrl::parse(mq->url()));
  const std::string q = queue_name("chan");
  AmqpChannel pub(url, q);
  pub.publish({{q, "one", 0, 1}, {q, "two", 2, 1}, {q, "three", -1, 1}});
  {
    AmqpChannel c(url, q);
    c.consume(q, 8);
    auto a = next_of(c), b = next_of(c), d = next_of(c);
    ASSERT_TRUE(a && b && d);
    EXPECT_EQ(a->body, "one");
    EXPECT_FALSE(a->redelivered);
    EXPECT_EQ(b->attempts, 2);
    EXPECT_EQ(a->queue, q);
    c.ack(a->tag);
    c.reject(d->tag, false);  // → q.dead
    // b is neither acked nor rejected: the connection closes with it unacked (a worker killed mid-line).
  }
  AmqpChannel c(url, q);
  c.consume(q, 8);
  c.consume(q + ".dead", 8);
  std::map<std::string, AmqpDelivery> got;
  while (auto d = next_of(c, 2000ms)) got[d->body] = *d;
  ASSERT_EQ(got.size(), 2u) << "only the unacked and the dead-lettered come back";
  ASSERT_TRUE(got.count("two"));
  EXPECT_TRUE(got["two"].redelivered);
  EXPECT_EQ(got["two"].attempts, 2) << "headers survive a redelivery";
  EXPECT_EQ(got["two"].queue, q);
  ASSERT_TRUE(got.count("three"));
  EXPECT_EQ(got["three"].queue, q + ".dead");
  c.ack(got["two"].tag);
  c.ack(got["three"].tag);
}

}  // namespace
}  // namespace kuai::jobs
