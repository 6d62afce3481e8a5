// A thin RAII layer over rabbitmq-c (librabbitmq 0.11) for the RabbitMQ job queue: one connection
// with one channel, used either to publish (publisher confirms) or to consume (manual acks).
//
// Topology for a queue name Q (jobs.amqp_queue, default "kuai.jobs"), declared by everyone who
// connects, all durable, messages persistent:
//   Q           the lines to run; x-max-priority 10 (the tenant's tier priority, clamped 0..10);
//               dead-letters to Q.dead through the default exchange
//   Q.dead      lines that exhausted jobs.max_attempts (a worker rejects them without requeue)
//   Q.results   what workers send back to the gateways' store: start, event, result
//               (x-single-active-consumer: one gateway applies them, in order)
//   Q.cancel    a fanout exchange: a gateway publishes the id of a chat job cancelled while it runs;
//               every worker process reads it through a queue of its own (exclusive, auto-delete)
// Header "x-kuai-attempts" on a line: deliveries before this one that did not finish it.
//
// Errors: every failure (connect, login, a channel closed by the broker, a nack, a timeout) throws
// AmqpError with what rabbitmq-c or the broker said. Threads: an AmqpChannel is for one thread at a
// time (rabbitmq-c connections are not thread-safe).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace kuai::jobs {

class AmqpError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AmqpUrl {
  std::string host = "localhost";
  int port = 5672;
  std::string user = "guest", password = "guest";
  std::string vhost = "/";  // amqp://host/ (empty path) means "/" here
  // amqp://user:pass@host:port/vhost (the vhost percent-encoded: %2f is "/"); amqps:// is refused.
  static std::variant<AmqpUrl, std::string> parse(const std::string& url);
  std::string redacted() const;  // for logs: no password
};

struct AmqpOutgoing {
  std::string queue;  // routing key (on the default exchange: the queue)
  std::string body;
  int attempts = -1;  // x-kuai-attempts header; -1 = none
  int priority = 0;
  std::string exchange = {};  // empty: the default exchange
};

struct AmqpDelivery {
  std::string queue;  // the queue it came from
  std::string body;
  uint64_t tag = 0;
  bool redelivered = false;
  int attempts = 0;   // x-kuai-attempts (0 when absent)
  int priority = 0;
};

class AmqpChannel {
 public:
  // Connects, logs in, opens channel 1 and declares the topology of `queue`. `heartbeat_s` 0 = none.
  AmqpChannel(const AmqpUrl& url, const std::string& queue, int heartbeat_s = 0);
  ~AmqpChannel();
  AmqpChannel(const AmqpChannel&) = delete;
  AmqpChannel& operator=(const AmqpChannel&) = delete;

  // Publishing: puts the channel in confirm mode (once), publishes every message persistent and
  // returns when the broker confirmed all of them (throws on a nack or after `timeout`).
  void publish(const std::vector<AmqpOutgoing>& messages,
               std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

  // Consuming: at most `prefetch` unacked deliveries; may be called for several queues.
  void consume(const std::string& queue, int prefetch);
  // Consumes a new exclusive, auto-delete queue bound to the fanout exchange `exchange`, without acks
  // (a missed message is harmless); its deliveries come with queue == exchange.
  void subscribe(const std::string& exchange);
  // Stops every consumer of this channel (basic.cancel, waiting for the broker's ok): no delivery
  // arrives after it but those already sent, which next() still returns.
  void cancel_consumers();
  // The next delivery, or nullopt after `wait` without one.
  std::optional<AmqpDelivery> next(std::chrono::milliseconds wait);
  void ack(uint64_t tag);
  void reject(uint64_t tag, bool requeue);  // requeue=false dead-letters a line

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace kuai::jobs
