#include "jobs/amqp.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <sys/time.h>

namespace kuai::jobs {
namespace {

constexpr amqp_channel_t kChannel = 1;
constexpr int kMaxPriority = 10;

amqp_bytes_t bytes(const std::string& s) { return amqp_bytes_t{s.size(), const_cast<char*>(s.data())}; }
std::string str(amqp_bytes_t b) { return std::string(static_cast<const char*>(b.bytes), b.len); }

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

std::string describe(const amqp_rpc_reply_t& r) {
  switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL: return "ok";
    case AMQP_RESPONSE_NONE: return "no reply (missing RPC reply type)";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION: return amqp_error_string2(r.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        auto* m = static_cast<amqp_connection_close_t*>(r.reply.decoded);
        return "connection closed by the broker: " + std::to_string(m->reply_code) + " " + str(m->reply_text);
      }
      if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        auto* m = static_cast<amqp_channel_close_t*>(r.reply.decoded);
        return "channel closed by the broker: " + std::to_string(m->reply_code) + " " + str(m->reply_text);
      }
      return "broker error (method " + std::to_string(r.reply.id) + ")";
  }
  return "unknown reply";
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

}  // namespace

std::variant<AmqpUrl, std::string> AmqpUrl::parse(const std::string& url) {
  const std::string scheme = "amqp://";
  if (url.rfind("amqps://", 0) == 0) return "'" + url + "': amqps:// (TLS) is not supported; use amqp://";
  if (url.rfind(scheme, 0) != 0) return "'" + url + "' is not an amqp:// URL";
  AmqpUrl u;
  std::string rest = url.substr(scheme.size());
  std::string authority = rest.substr(0, rest.find('/'));
  std::string path = rest.find('/') == std::string::npos ? "" : rest.substr(rest.find('/') + 1);
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    std::string cred = authority.substr(0, at);
    authority = authority.substr(at + 1);
    auto colon = cred.find(':');
    auto user = percent_decode(cred.substr(0, colon));
    auto pass = percent_decode(colon == std::string::npos ? "" : cred.substr(colon + 1));
    if (!user || !pass) return "'" + u.redacted() + "': bad percent-encoding in the user or password";
    u.user = *user;
    if (colon != std::string::npos) u.password = *pass;
  }
  if (auto colon = authority.rfind(':'); colon != std::string::npos && authority.find(']') == std::string::npos) {
    std::string port = authority.substr(colon + 1);
    authority = authority.substr(0, colon);
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) || std::stoi(port) < 1 ||
        std::stoi(port) > 65535)
      return "'" + url + "': the port must be 1..65535";
    u.port = std::stoi(port);
  }
  if (authority.empty()) return "'" + url + "': no host";
  u.host = authority;
  auto vhost = percent_decode(path);
  if (!vhost) return "'" + url + "': bad percent-encoding in the vhost";
  if (!vhost->empty()) u.vhost = *vhost;
  return u;
}

std::string AmqpUrl::redacted() const {
  return "amqp://" + user + "@" + host + ":" + std::to_string(port) + "/" + vhost;
}

struct AmqpChannel::Impl {
  amqp_connection_state_t conn = nullptr;
  bool logged_in = false, channel_open = false;
  bool confirming = false;
  uint64_t published = 0;  // publish sequence number (confirm mode)
  std::map<std::string, std::string> consumer_queue;  // consumer tag → queue

  // Also when the constructor threw half-way (a failed login, a refused declare).
  ~Impl() {
    if (!conn) return;
    if (channel_open) amqp_channel_close(conn, kChannel, AMQP_REPLY_SUCCESS);
    if (logged_in) amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
  }

  void check(const amqp_rpc_reply_t& r, const std::string& what) {
    if (r.reply_type == AMQP_RESPONSE_NORMAL) return;
    channel_open = false;  // closed by the broker, or the socket failed: no polite close
    if (r.reply_type != AMQP_RESPONSE_SERVER_EXCEPTION || r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) logged_in = false;
    throw AmqpError(what + ": " + describe(r));
  }
  void check_rpc(const std::string& what) { check(amqp_get_rpc_reply(conn), what); }
  void check_status(int status, const std::string& what) {
    if (status == AMQP_STATUS_OK) return;
    channel_open = logged_in = false;
    throw AmqpError(what + ": " + amqp_error_string2(status));
  }

  void declare(const std::string& name, std::vector<amqp_table_entry_t> args) {
    amqp_table_t table{static_cast<int>(args.size()), args.empty() ? nullptr : args.data()};
    amqp_queue_declare(conn, kChannel, bytes(name), 0, 1, 0, 0, table);
    check_rpc("declare queue '" + name + "'");
  }

  // Reads one frame that is not a delivery (a confirm, a close); throws on a close.
  void handle_method(const amqp_frame_t& f, uint64_t& confirmed) {
    if (f.frame_type != AMQP_FRAME_METHOD) return;
    switch (f.payload.method.id) {
      case AMQP_BASIC_ACK_METHOD: {
        auto* a = static_cast<amqp_basic_ack_t*>(f.payload.method.decoded);
        confirmed = std::max(confirmed, a->delivery_tag);
        return;
      }
      case AMQP_BASIC_NACK_METHOD:
        throw AmqpError("the broker refused a published message (basic.nack)");
      case AMQP_BASIC_RETURN_METHOD:
        return;
      case AMQP_CHANNEL_CLOSE_METHOD: {
        auto* m = static_cast<amqp_channel_close_t*>(f.payload.method.decoded);
        amqp_channel_close_ok_t ok{};
        amqp_send_method(conn, kChannel, AMQP_CHANNEL_CLOSE_OK_METHOD, &ok);
        channel_open = false;
        throw AmqpError("channel closed by the broker: " + std::to_string(m->reply_code) + " " + str(m->reply_text));
      }
      case AMQP_CONNECTION_CLOSE_METHOD: {
        auto* m = static_cast<amqp_connection_close_t*>(f.payload.method.decoded);
        amqp_connection_close_ok_t ok{};
        amqp_send_method(conn, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &ok);
        channel_open = logged_in = false;
        throw AmqpError("connection closed by the broker: " + std::to_string(m->reply_code) + " " + str(m->reply_text));
      }
      default:
        return;
    }
  }
};

AmqpChannel::AmqpChannel(const AmqpUrl& url, const std::string& queue, int heartbeat_s)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.conn = amqp_new_connection();
  if (!m.conn) throw AmqpError("cannot allocate a connection");
  amqp_socket_t* socket = amqp_tcp_socket_new(m.conn);
  if (!socket) throw AmqpError("cannot create a TCP socket");
  timeval tv = to_timeval(std::chrono::milliseconds(5000));
  m.check_status(amqp_socket_open_noblock(socket, url.host.c_str(), url.port, &tv),
                 "cannot connect to " + url.redacted());
  m.check(amqp_login(m.conn, url.vhost.c_str(), 0, 131072, heartbeat_s, AMQP_SASL_METHOD_PLAIN, url.user.c_str(),
                     url.password.c_str()),
          "login to " + url.redacted());
  m.logged_in = true;
  amqp_channel_open(m.conn, kChannel);
  m.check_rpc("open a channel on " + url.redacted());
  m.channel_open = true;

  const std::string dead = queue + ".dead", results = queue + ".results";
  amqp_table_entry_t prio{}, dlx{}, dlk{}, single{};
  prio.key = amqp_cstring_bytes("x-max-priority");
  prio.value.kind = AMQP_FIELD_KIND_I32;
  prio.value.value.i32 = kMaxPriority;
  dlx.key = amqp_cstring_bytes("x-dead-letter-exchange");
  dlx.value.kind = AMQP_FIELD_KIND_UTF8;
  dlx.value.value.bytes = amqp_cstring_bytes("");
  dlk.key = amqp_cstring_bytes("x-dead-letter-routing-key");
  dlk.value.kind = AMQP_FIELD_KIND_UTF8;
  dlk.value.value.bytes = bytes(dead);
  single.key = amqp_cstring_bytes("x-single-active-consumer");
  single.value.kind = AMQP_FIELD_KIND_BOOLEAN;
  single.value.value.boolean = 1;
  m.declare(dead, {});
  m.declare(results, {single});
  m.declare(queue, {prio, dlx, dlk});
  const std::string cancel = queue + ".cancel";
  amqp_exchange_declare(m.conn, kChannel, bytes(cancel), amqp_cstring_bytes("fanout"), 0, 1, 0, 0, amqp_empty_table);
  m.check_rpc("declare exchange '" + cancel + "'");
}

AmqpChannel::~AmqpChannel() = default;

void AmqpChannel::publish(const std::vector<AmqpOutgoing>& messages, std::chrono::milliseconds timeout) {
  Impl& m = *impl_;
  if (!m.confirming) {
    amqp_confirm_select(m.conn, kChannel);
    m.check_rpc("confirm.select");
    m.confirming = true;
  }
  if (messages.empty()) return;
  for (const auto& msg : messages) {
    amqp_basic_properties_t props{};
    props._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_PRIORITY_FLAG;
    props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    props.content_type = amqp_cstring_bytes("application/json");
    props.priority = static_cast<uint8_t>(std::clamp(msg.priority, 0, kMaxPriority));
    amqp_table_entry_t attempts{};
    if (msg.attempts >= 0) {
      attempts.key = amqp_cstring_bytes("x-kuai-attempts");
      attempts.value.kind = AMQP_FIELD_KIND_I32;
      attempts.value.value.i32 = msg.attempts;
      props._flags |= AMQP_BASIC_HEADERS_FLAG;
      props.headers = amqp_table_t{1, &attempts};
    }
    m.check_status(amqp_basic_publish(m.conn, kChannel, msg.exchange.empty() ? amqp_empty_bytes : bytes(msg.exchange),
                                      bytes(msg.queue), 0, 0, &props, bytes(msg.body)),
                   "publish to '" + (msg.exchange.empty() ? msg.queue : msg.exchange) + "'");
    ++m.published;
  }
  // Wait for the confirms (the broker acks, often several at once with `multiple`).
  uint64_t confirmed = m.published - messages.size();
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (confirmed < m.published) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw AmqpError("the broker did not confirm " + std::to_string(m.published - confirmed) +
                                           " published message(s) in time");
    timeval tv = to_timeval(left);
    amqp_frame_t f;
    int rc = amqp_simple_wait_frame_noblock(m.conn, &f, &tv);
    if (rc == AMQP_STATUS_TIMEOUT) continue;
    m.check_status(rc, "wait for publisher confirms");
    m.handle_method(f, confirmed);
  }
  amqp_maybe_release_buffers(m.conn);
}

void AmqpChannel::consume(const std::string& queue, int prefetch) {
  Impl& m = *impl_;
  amqp_basic_qos(m.conn, kChannel, 0, static_cast<uint16_t>(std::clamp(prefetch, 1, 65535)), 0);
  m.check_rpc("basic.qos");
  auto* ok = amqp_basic_consume(m.conn, kChannel, bytes(queue), amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
  m.check_rpc("consume '" + queue + "'");
  m.consumer_queue[str(ok->consumer_tag)] = queue;
}

void AmqpChannel::subscribe(const std::string& exchange) {
  Impl& m = *impl_;
  auto* q = amqp_queue_declare(m.conn, kChannel, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
  m.check_rpc("declare a queue for '" + exchange + "'");
  const std::string name = str(q->queue);
  amqp_queue_bind(m.conn, kChannel, bytes(name), bytes(exchange), amqp_empty_bytes, amqp_empty_table);
  m.check_rpc("bind a queue to '" + exchange + "'");
  auto* ok = amqp_basic_consume(m.conn, kChannel, bytes(name), amqp_empty_bytes, 0, 1, 1, amqp_empty_table);
  m.check_rpc("consume '" + name + "'");
  m.consumer_queue[str(ok->consumer_tag)] = exchange;
}

void AmqpChannel::cancel_consumers() {
  Impl& m = *impl_;
  for (const auto& [tag, queue] : m.consumer_queue) {
    amqp_basic_cancel(m.conn, kChannel, bytes(tag));
    m.check_rpc("cancel the consumer of '" + queue + "'");
  }
}

std::optional<AmqpDelivery> AmqpChannel::next(std::chrono::milliseconds wait) {
  Impl& m = *impl_;
  amqp_maybe_release_buffers(m.conn);
  amqp_envelope_t env;
  timeval tv = to_timeval(wait);
  amqp_rpc_reply_t r = amqp_consume_message(m.conn, &env, &tv, 0);
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_TIMEOUT) return std::nullopt;
  if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
    amqp_frame_t f;
    tv = to_timeval(std::chrono::milliseconds(100));
    int rc = amqp_simple_wait_frame_noblock(m.conn, &f, &tv);
    if (rc == AMQP_STATUS_TIMEOUT) return std::nullopt;
    m.check_status(rc, "read a frame");
    uint64_t ignored = 0;
    m.handle_method(f, ignored);
    return std::nullopt;
  }
  m.check(r, "consume");
  AmqpDelivery d;
  d.body = str(env.message.body);
  d.tag = env.delivery_tag;
  d.redelivered = env.redelivered != 0;
  auto q = m.consumer_queue.find(str(env.consumer_tag));
  if (q != m.consumer_queue.end()) d.queue = q->second;
  const auto& p = env.message.properties;
  if (p._flags & AMQP_BASIC_PRIORITY_FLAG) d.priority = p.priority;
  if (p._flags & AMQP_BASIC_HEADERS_FLAG) {
    for (int i = 0; i < p.headers.num_entries; ++i) {
      const auto& e = p.headers.entries[i];
      if (str(e.key) != "x-kuai-attempts") continue;
      switch (e.value.kind) {
        case AMQP_FIELD_KIND_I32: d.attempts = e.value.value.i32; break;
        case AMQP_FIELD_KIND_I64: d.attempts = static_cast<int>(e.value.value.i64); break;
        case AMQP_FIELD_KIND_U8: d.attempts = e.value.value.u8; break;
        case AMQP_FIELD_KIND_I8: d.attempts = e.value.value.i8; break;
        case AMQP_FIELD_KIND_I16: d.attempts = e.value.value.i16; break;
        default: break;
      }
    }
  }
  amqp_destroy_envelope(&env);
  return d;
}

void AmqpChannel::ack(uint64_t tag) {
  impl_->check_status(amqp_basic_ack(impl_->conn, kChannel, tag, 0), "basic.ack");
}

void AmqpChannel::reject(uint64_t tag, bool requeue) {
  impl_->check_status(amqp_basic_reject(impl_->conn, kChannel, tag, requeue ? 1 : 0), "basic.reject");
}

}  // namespace kuai::jobs
