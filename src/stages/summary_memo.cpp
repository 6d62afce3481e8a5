#include "stages/summary_memo.h"

#include "cache/redis_share.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <hiredis/hiredis.h>
#include <spdlog/spdlog.h>

namespace kuai::stages {

std::optional<std::string> SummaryLru::get(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  items_.splice(items_.begin(), items_, it->second);
  return it->second->second;
}

void SummaryLru::put(const std::string& key, std::string value) {
  std::lock_guard lock(mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->second = std::move(value);
    items_.splice(items_.begin(), items_, it->second);
    return;
  }
  items_.emplace_front(key, std::move(value));
  index_[key] = items_.begin();
  while (items_.size() > capacity_ && !items_.empty()) {
    index_.erase(items_.back().first);
    items_.pop_back();
  }
}

size_t SummaryLru::size() const {
  std::lock_guard lock(mu_);
  return items_.size();
}

namespace {

// "host:port" (no scheme) is accepted as redis://host:port.
std::string with_scheme(const std::string& url) { return url.starts_with("redis://") ? url : "redis://" + url; }

}  // namespace

std::string RedisSummaries::valid_url(const std::string& url) {
  auto addr = cache::parse_redis_url(with_scheme(url));
  if (auto* err = std::get_if<std::string>(&addr)) return *err;
  return {};
}

RedisSummaries::RedisSummaries(std::string url, std::chrono::milliseconds timeout, int64_t ttl_s)
    : timeout_(timeout), ttl_s_(ttl_s), thread_(std::make_unique<boost::asio::thread_pool>(1)) {
  auto addr = cache::parse_redis_url(with_scheme(url));
  if (auto* a = std::get_if<cache::RedisAddress>(&addr)) {
    host_ = a->host;
    port_ = a->port;
    db_ = a->db;
    password_ = a->password;
  } else {
    usable_ = false;
    spdlog::warn("summarize: redis '{}': {}", url, std::get<std::string>(addr));
  }
}

RedisSummaries::~RedisSummaries() {
  thread_->join();  // queued calls finish (each bounded by the timeout) before the connection goes
  if (ctx_) redisFree(ctx_);
}

bool RedisSummaries::connect_locked() {
  if (!usable_) return false;
  if (ctx_ && !ctx_->err) return true;
  auto now = std::chrono::steady_clock::now();
  if (ctx_ == nullptr && last_try_.time_since_epoch().count() != 0 && now - last_try_ < std::chrono::seconds(1)) return false;
  if (ctx_ && now - last_try_ < std::chrono::seconds(1)) return false;
  last_try_ = now;
  if (ctx_) { redisFree(ctx_); ctx_ = nullptr; }
  timeval tv{static_cast<time_t>(timeout_.count() / 1000), static_cast<suseconds_t>((timeout_.count() % 1000) * 1000)};
  ctx_ = redisConnectWithTimeout(host_.c_str(), port_, tv);
  if (!ctx_ || ctx_->err) {
    spdlog::warn("summarize: redis {}:{} unreachable: {}", host_, port_, ctx_ ? ctx_->errstr : "no memory");
    if (ctx_) { redisFree(ctx_); ctx_ = nullptr; }
    return false;
  }
  redisSetTimeout(ctx_, tv);
  auto command_ok = [&](std::initializer_list<std::string_view> args) {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto* reply = static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
    bool ok = reply && reply->type != REDIS_REPLY_ERROR;
    if (reply) {
      if (!ok) spdlog::warn("summarize: redis {}:{}: {}", host_, port_, std::string(reply->str, reply->len));
      freeReplyObject(reply);
    }
    return ok;
  };
  const std::string db = std::to_string(db_);
  if ((!password_.empty() && !command_ok({"AUTH", password_})) || (db_ != 0 && !command_ok({"SELECT", db}))) {
    redisFree(ctx_);
    ctx_ = nullptr;
    return false;
  }
  return true;
}

bool RedisSummaries::reachable() {
  std::lock_guard lock(mu_);
  return connect_locked();
}

// (Named member coroutines, not capturing lambdas: with g++ 12 a lambda coroutine's captures given to
// co_spawn were destroyed twice, an ASan use-after-free in tests/stages/summary_memo_test.cpp.)
boost::asio::awaitable<RedisSummaries::Values> RedisSummaries::get_many_here(std::vector<std::string> keys) {
  co_return get_many_now(keys);
}

boost::asio::awaitable<void> RedisSummaries::put_here(std::string key, std::string value) {
  put_now(key, value);
  co_return;
}

boost::asio::awaitable<RedisSummaries::Values> RedisSummaries::get_many(std::vector<std::string> keys) {
  auto on_thread = get_many_here(std::move(keys));
  co_return co_await boost::asio::co_spawn(*thread_, std::move(on_thread), boost::asio::use_awaitable);
}

boost::asio::awaitable<void> RedisSummaries::put(std::string key, std::string value) {
  auto on_thread = put_here(std::move(key), std::move(value));
  co_await boost::asio::co_spawn(*thread_, std::move(on_thread), boost::asio::use_awaitable);
}

RedisSummaries::Values RedisSummaries::get_many_now(const std::vector<std::string>& keys) {
  std::vector<std::optional<std::string>> out(keys.size());
  if (keys.empty()) return out;
  std::vector<const char*> argv{"MGET"};
  std::vector<size_t> lens{4};
  for (const auto& k : keys) { argv.push_back(k.data()); lens.push_back(k.size()); }
  std::lock_guard lock(mu_);
  if (!connect_locked()) return out;
  auto* reply = static_cast<redisReply*>(redisCommandArgv(ctx_, static_cast<int>(argv.size()), argv.data(), lens.data()));
  if (!reply) return out;  // ctx_->err is set: reconnect next time
  if (reply->type == REDIS_REPLY_ARRAY && reply->elements == keys.size()) {
    for (size_t i = 0; i < keys.size(); ++i) {
      const redisReply* e = reply->element[i];
      if (e->type == REDIS_REPLY_STRING) out[i] = std::string(e->str, e->len);
    }
  }
  freeReplyObject(reply);
  return out;
}

void RedisSummaries::put_now(const std::string& key, const std::string& value) {
  std::string ttl = std::to_string(ttl_s_);
  const char* argv[] = {"SET", key.data(), value.data(), "EX", ttl.data()};
  size_t lens[] = {3, key.size(), value.size(), 2, ttl.size()};
  std::lock_guard lock(mu_);
  if (!connect_locked()) return;
  auto* reply = static_cast<redisReply*>(redisCommandArgv(ctx_, 5, argv, lens));
  if (reply) freeReplyObject(reply);
}

boost::asio::awaitable<std::optional<std::pair<size_t, std::string>>> SummaryMemo::longest(
    std::vector<std::string> keys) {
  std::optional<std::pair<size_t, std::string>> best;
  for (size_t i = keys.size(); i-- > 0;) {
    if (auto v = lru_.get(keys[i])) {
      best = std::make_pair(i, std::move(*v));
      break;
    }
  }
  const size_t from = best ? best->first + 1 : 0;
  if (!redis_ || from >= keys.size()) co_return best;
  // Only longer prefixes than the local best are worth a round trip.
  std::vector<std::string> longer(keys.begin() + static_cast<std::ptrdiff_t>(from), keys.end());
  auto values = co_await redis_->get_many(longer);
  for (size_t i = values.size(); i-- > 0;) {
    if (values[i]) {
      lru_.put(longer[i], *values[i]);
      co_return std::make_pair(from + i, std::move(*values[i]));
    }
  }
  co_return best;
}

boost::asio::awaitable<void> SummaryMemo::put(std::string key, std::string summary) {
  lru_.put(key, summary);
  if (redis_) co_await redis_->put(std::move(key), std::move(summary));
}

}  // namespace kuai::stages
