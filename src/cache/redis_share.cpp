#include "cache/redis_share.h"

#include "cache/entry_codec.h"

#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdio>
#include <random>

namespace kuai::cache {
namespace {

using ReplyPtr = std::unique_ptr<redisReply, void (*)(void*)>;
ReplyPtr wrap(void* r) { return ReplyPtr(static_cast<redisReply*>(r), freeReplyObject); }

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

bool reply_ok(redisContext* c, const ReplyPtr& r) { return c->err == 0 && r && r->type != REDIS_REPLY_ERROR; }

}  // namespace

std::variant<RedisAddress, std::string> parse_redis_url(const std::string& url) {
  RedisAddress a;
  std::string_view s = url;
  if (!s.starts_with("redis://")) return "expected redis://host:port[/db], got '" + url + "'";
  s.remove_prefix(8);
  if (auto at = s.rfind('@'); at != std::string_view::npos) {
    std::string_view cred = s.substr(0, at);
    if (auto colon = cred.find(':'); colon != std::string_view::npos) cred = cred.substr(colon + 1);
    a.password = std::string(cred);
    s = s.substr(at + 1);
  }
  if (auto slash = s.find('/'); slash != std::string_view::npos) {
    std::string_view db = s.substr(slash + 1);
    s = s.substr(0, slash);
    if (!db.empty()) {
      try { a.db = std::stoi(std::string(db)); } catch (const std::exception&) { return "bad database number in '" + url + "'"; }
    }
  }
  if (auto colon = s.rfind(':'); colon != std::string_view::npos) {
    try { a.port = std::stoi(std::string(s.substr(colon + 1))); } catch (const std::exception&) { return "bad port in '" + url + "'"; }
    s = s.substr(0, colon);
  }
  if (!s.empty()) a.host = std::string(s);
  if (a.port <= 0 || a.port > 65535) return "bad port in '" + url + "'";
  return a;
}

RedisShare::RedisShare(RedisAddress addr, std::string prefix, Store& store)
    : addr_(std::move(addr)), prefix_(std::move(prefix)), channel_(prefix_ + "events"), store_(store) {
  std::random_device rd;
  instance_ = hex_id((uint64_t(rd()) << 32) ^ rd());
}

std::string RedisShare::entry_key(uint64_t id) const { return prefix_ + "e:" + hex_id(id); }

redisContext* RedisShare::connect(std::string& error) const {
  timeval tv{2, 0};
  redisContext* c = redisConnectWithTimeout(addr_.host.c_str(), addr_.port, tv);
  if (!c || c->err) {
    error = c ? c->errstr : "out of memory";
    if (c) redisFree(c);
    return nullptr;
  }
  auto check = [&](ReplyPtr r) {
    if (reply_ok(c, r)) return true;
    error = c->err ? c->errstr : (r ? std::string(r->str, r->len) : "no reply");
    return false;
  };
  if (!addr_.password.empty() && !check(wrap(redisCommand(c, "AUTH %s", addr_.password.c_str())))) { redisFree(c); return nullptr; }
  if (addr_.db != 0 && !check(wrap(redisCommand(c, "SELECT %d", addr_.db)))) { redisFree(c); return nullptr; }
  return c;
}

std::variant<std::unique_ptr<RedisShare>, std::string> RedisShare::start(const std::string& url, std::string prefix,
                                                                          Store& store) {
  auto addr = parse_redis_url(url);
  if (auto* err = std::get_if<std::string>(&addr)) return *err;
  std::unique_ptr<RedisShare> share(new RedisShare(std::get<RedisAddress>(addr), std::move(prefix), store));
  std::string error;
  redisContext* c = share->connect(error);
  if (!c) return "cannot connect to " + url + ": " + error;
  // Subscribe first, then load: a change published during the load is applied after it, not lost.
  share->subscriber_ = std::thread([s = share.get()] { s->subscriber_loop(); });
  {
    std::unique_lock lock(share->ready_mu_);
    share->ready_cv_.wait_for(lock, std::chrono::seconds(3), [&] { return share->subscribed_; });
  }
  size_t n = share->load_all(c);
  redisFree(c);
  share->loaded_ = n;
  share->connected_ = true;
  share->writer_ = std::thread([s = share.get()] { s->writer_loop(); });
  spdlog::info("cache: shared through {} (instance {}), loaded {} entries", url, share->instance_, n);
  return share;
}

RedisShare::~RedisShare() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  {
    std::lock_guard lock(sub_mu_);
    if (sub_ctx_) ::shutdown(sub_ctx_->fd, SHUT_RDWR);  // wakes the blocking read
  }
  if (writer_.joinable()) writer_.join();
  if (subscriber_.joinable()) subscriber_.join();
}

size_t RedisShare::load_all(redisContext* c) {
  size_t n = 0;
  std::string cursor = "0";
  std::string pattern = prefix_ + "e:*";
  int64_t now = now_ms();
  do {
    auto r = wrap(redisCommand(c, "SCAN %s MATCH %s COUNT 500", cursor.c_str(), pattern.c_str()));
    if (!reply_ok(c, r) || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
      ++errors_;
      break;
    }
    cursor.assign(r->element[0]->str, r->element[0]->len);
    const redisReply* keys = r->element[1];
    for (size_t i = 0; i < keys->elements; ++i)
      redisAppendCommand(c, "GET %b", keys->element[i]->str, keys->element[i]->len);
    for (size_t i = 0; i < keys->elements; ++i) {
      void* raw = nullptr;
      if (redisGetReply(c, &raw) != REDIS_OK) { ++errors_; return n; }
      auto g = wrap(raw);
      if (g->type != REDIS_REPLY_STRING) continue;
      auto e = decode_entry(std::string_view(g->str, g->len));
      if (!e) { ++errors_; continue; }
      store_.put(std::move(*e), now);
      ++n;
    }
  } while (cursor != "0");
  return n;
}

void RedisShare::put(const Entry& e) {
  Op op{Op::Kind::Put, e.id, e.ns, encode_entry(e), e.expires_ms};
  {
    std::lock_guard lock(mu_);
    if (queue_.size() > 10000) { ++errors_; return; }  // Redis far behind: keep memory bounded
    queue_.push_back(std::move(op));
  }
  cv_.notify_one();
}

void RedisShare::erase(uint64_t id) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(Op{Op::Kind::Erase, id, {}, {}, 0});
  }
  cv_.notify_one();
}

void RedisShare::flush(const std::string& ns) {
  {
    std::lock_guard lock(mu_);
    queue_.push_back(Op{Op::Kind::Flush, 0, ns, {}, 0});
  }
  cv_.notify_one();
}

RedisShare::Stats RedisShare::stats() const {
  return Stats{connected_.load(), loaded_.load(), applied_.load(), published_.load(), errors_.load()};
}

bool RedisShare::send(redisContext* c, const Op& op) {
  std::string msg = instance_;
  switch (op.kind) {
    case Op::Kind::Put: {
      std::string key = entry_key(op.id);
      std::string set_key = prefix_ + "n:" + op.ns;
      if (op.expires_ms > 0) {
        redisAppendCommand(c, "SET %b %b PXAT %lld", key.data(), key.size(), op.payload.data(), op.payload.size(),
                           static_cast<long long>(op.expires_ms));
      } else {
        redisAppendCommand(c, "SET %b %b", key.data(), key.size(), op.payload.data(), op.payload.size());
      }
      redisAppendCommand(c, "SADD %b %s", set_key.data(), set_key.size(), hex_id(op.id).c_str());
      msg += " P " + op.payload;
      break;
    }
    case Op::Kind::Erase: {
      std::string key = entry_key(op.id);
      redisAppendCommand(c, "DEL %b", key.data(), key.size());
      redisAppendCommand(c, "PING");
      msg += " D " + hex_id(op.id);
      break;
    }
    case Op::Kind::Flush: {
      // The ids of the namespace (or every entry key), then delete them.
      std::vector<std::string> keys;
      std::vector<std::string> sets;
      if (op.ns.empty()) {
        std::string cursor = "0";
        std::string pattern = prefix_ + "*";
        do {
          auto r = wrap(redisCommand(c, "SCAN %s MATCH %s COUNT 500", cursor.c_str(), pattern.c_str()));
          if (!reply_ok(c, r) || r->type != REDIS_REPLY_ARRAY || r->elements != 2) return false;
          cursor.assign(r->element[0]->str, r->element[0]->len);
          for (size_t i = 0; i < r->element[1]->elements; ++i)
            keys.emplace_back(r->element[1]->element[i]->str, r->element[1]->element[i]->len);
        } while (cursor != "0");
      } else {
        std::string set_key = prefix_ + "n:" + op.ns;
        auto r = wrap(redisCommand(c, "SMEMBERS %b", set_key.data(), set_key.size()));
        if (!reply_ok(c, r) || r->type != REDIS_REPLY_ARRAY) return false;
        for (size_t i = 0; i < r->elements; ++i) keys.push_back(prefix_ + "e:" + std::string(r->element[i]->str, r->element[i]->len));
        keys.push_back(set_key);
      }
      for (const auto& k : keys) {
        auto r = wrap(redisCommand(c, "DEL %b", k.data(), k.size()));
        if (!reply_ok(c, r)) return false;
      }
      redisAppendCommand(c, "PING");
      redisAppendCommand(c, "PING");
      msg += " F " + (op.ns.empty() ? std::string("*") : op.ns);
      break;
    }
  }
  redisAppendCommand(c, "PUBLISH %b %b", channel_.data(), channel_.size(), msg.data(), msg.size());
  for (int i = 0; i < 3; ++i) {
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK) return false;
    auto r = wrap(raw);
    if (r->type == REDIS_REPLY_ERROR) {
      spdlog::warn("cache: redis error: {}", std::string(r->str, r->len));
      ++errors_;
    }
  }
  ++published_;
  return true;
}

void RedisShare::writer_loop() {
  redisContext* c = nullptr;
  for (;;) {
    Op op;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) break;  // stopping, and everything queued was sent
      op = std::move(queue_.front());
      queue_.pop_front();
    }
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::string error;
      if (!c) c = connect(error);
      if (!c) {
        spdlog::warn("cache: redis unreachable ({}); dropping a write", error);
        break;
      }
      if (send(c, op)) {
        error.clear();
        break;
      }
      redisFree(c);  // broken connection: reconnect once and retry
      c = nullptr;
      if (attempt == 1) ++errors_;
    }
    if (!c) ++errors_;
  }
  if (c) redisFree(c);
}

void RedisShare::apply(std::string_view message) {
  // "<instance> <P|D|F> <payload>"
  auto sp1 = message.find(' ');
  if (sp1 == std::string_view::npos || message.size() < sp1 + 3) return;
  std::string_view from = message.substr(0, sp1);
  char kind = message[sp1 + 1];
  std::string_view payload = message.substr(std::min(message.size(), sp1 + 3));
  if (from == instance_) return;  // our own change, already applied locally
  if (kind == 'P') {
    if (auto e = decode_entry(payload)) {
      store_.put(std::move(*e), now_ms());
      ++applied_;
    } else {
      ++errors_;
    }
  } else if (kind == 'D') {
    if (auto id = parse_hex_id(payload)) store_.erase(*id);
    ++applied_;
  } else if (kind == 'F') {
    if (payload == "*") store_.flush_all(); else store_.flush_namespace(std::string(payload));
    ++applied_;
  }
}

void RedisShare::subscriber_loop() {
  bool first = true;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) break;
    }
    std::string error;
    redisContext* c = connect(error);
    if (c) {
      redisSetTimeout(c, timeval{0, 0});  // no read timeout: a quiet channel is not an error
      auto r = wrap(redisCommand(c, "SUBSCRIBE %b", channel_.data(), channel_.size()));
      if (!reply_ok(c, r)) {
        redisFree(c);
        c = nullptr;
      }
    }
    if (!c) {
      connected_ = false;
      {
        std::lock_guard lock(ready_mu_);
        subscribed_ = true;  // let start() go on: it reports its own connection error
      }
      ready_cv_.notify_all();
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return stopping_; });
      continue;
    }
    {
      std::lock_guard lock(sub_mu_);
      sub_ctx_ = c;
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) ::shutdown(c->fd, SHUT_RDWR);
    }
    {
      std::lock_guard lock(ready_mu_);
      subscribed_ = true;
    }
    ready_cv_.notify_all();
    if (!first) {
      // Back after a disconnection: reload, since changes published meanwhile were missed.
      std::string err2;
      if (redisContext* loader = connect(err2)) {
        load_all(loader);
        redisFree(loader);
      }
      connected_ = true;
    }
    first = false;
    for (;;) {
      void* raw = nullptr;
      if (redisGetReply(c, &raw) != REDIS_OK) break;
      auto m = wrap(raw);
      if (m->type == REDIS_REPLY_ARRAY && m->elements == 3 && m->element[2]->type == REDIS_REPLY_STRING)
        apply(std::string_view(m->element[2]->str, m->element[2]->len));
    }
    {
      std::lock_guard lock(sub_mu_);
      sub_ctx_ = nullptr;
    }
    redisFree(c);
    connected_ = false;
  }
}

}  // namespace kuai::cache
