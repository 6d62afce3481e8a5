// Where the summarize stage keeps summaries: key = SHA-256 (hex) of the dropped prefix (see
// summarize.h), value = summary text. In-process LRU always; Redis too when configured, so several kuai
// instances share summaries (read-through: a Redis hit fills the LRU).
// Redis calls block (hiredis, one connection, a short timeout, reconnect at most once a second), so
// they run on the memo's own Redis thread, never on the gateway's I/O threads (the cache's writer-thread
// pattern, cache/redis_share.h): a lookup or a store is awaited, and the coroutine resumes on its own
// executor when the Redis thread is done. A Redis failure is a miss, never an error for the request.
// Thread-safety: every method may be called from any thread.
#pragma once

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

struct redisContext;
namespace boost::asio { class thread_pool; }

namespace kuai::stages {

class SummaryLru {
 public:
  explicit SummaryLru(size_t capacity) : capacity_(capacity) {}
  std::optional<std::string> get(const std::string& key);
  void put(const std::string& key, std::string value);
  size_t size() const;

 private:
  size_t capacity_;
  mutable std::mutex mu_;
  std::list<std::pair<std::string, std::string>> items_;  // front: most recent
  std::unordered_map<std::string, std::list<std::pair<std::string, std::string>>::iterator> index_;
};

class RedisSummaries {
 public:
  using Values = std::vector<std::optional<std::string>>;
  // `url`: "redis://[:password@]host[:port][/db]" (cache::parse_redis_url) or "host:port". The caller
  // checks a URL with valid_url() first; an unparsable one here is an unreachable Redis.
  RedisSummaries(std::string url, std::chrono::milliseconds timeout, int64_t ttl_s);
  ~RedisSummaries();  // waits for the queued Redis calls (each bounded by the timeout)
  RedisSummaries(const RedisSummaries&) = delete;
  RedisSummaries& operator=(const RedisSummaries&) = delete;

  // Empty when `url` is usable, else why not.
  static std::string valid_url(const std::string& url);

  // One MGET on the Redis thread: the value for each key (nullopt for a miss or when Redis is unreachable).
  boost::asio::awaitable<Values> get_many(std::vector<std::string> keys);
  // SET … EX ttl on the Redis thread; done when Redis answered (or failed).
  boost::asio::awaitable<void> put(std::string key, std::string value);
  // Blocking: connects when not connected (tests, start-up checks). Not for I/O threads.
  bool reachable();

 private:
  Values get_many_now(const std::vector<std::string>& keys);
  boost::asio::awaitable<Values> get_many_here(std::vector<std::string> keys);  // run on the Redis thread
  boost::asio::awaitable<void> put_here(std::string key, std::string value);
  void put_now(const std::string& key, const std::string& value);
  bool connect_locked();
  std::string host_;
  int port_ = 6379;
  int db_ = 0;
  std::string password_;
  bool usable_ = true;
  std::chrono::milliseconds timeout_;
  int64_t ttl_s_;
  std::mutex mu_;
  redisContext* ctx_ = nullptr;
  std::chrono::steady_clock::time_point last_try_{};
  std::unique_ptr<boost::asio::thread_pool> thread_;  // the Redis thread (one)
};

class SummaryMemo {
 public:
  SummaryMemo(size_t lru_capacity, std::unique_ptr<RedisSummaries> redis)
      : lru_(lru_capacity), redis_(std::move(redis)) {}
  // The longest prefix with a summary: index into `keys` (keys[i] = key of the first i+1 dropped
  // messages) and its summary; nullopt when none. The LRU answers at once; Redis is asked (on the
  // Redis thread) only for prefixes longer than the LRU's best.
  boost::asio::awaitable<std::optional<std::pair<size_t, std::string>>> longest(std::vector<std::string> keys);
  // Into the LRU at once, and into Redis (awaited on the Redis thread) when shared.
  boost::asio::awaitable<void> put(std::string key, std::string summary);
  bool shared() const { return redis_ != nullptr; }

 private:
  SummaryLru lru_;
  std::unique_ptr<RedisSummaries> redis_;
};

}  // namespace kuai::stages
