// Where the summarize stage keeps summaries: key = SHA-256 (hex) of the dropped prefix (see
// summarize.h), value = summary text. In-process LRU always; Redis too when configured, so several kuai
// instances share summaries (read-through: a Redis hit fills the LRU).
// Redis calls are synchronous with a short timeout (hiredis, one connection under a mutex, reconnect at
// most once a second); a Redis failure is a miss, never an error for the request.
// Thread-safety: every method may be called from any thread.
#pragma once

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
  // `url`: "redis://host:port" or "host:port".
  RedisSummaries(std::string url, std::chrono::milliseconds timeout, int64_t ttl_s);
  ~RedisSummaries();
  RedisSummaries(const RedisSummaries&) = delete;
  RedisSummaries& operator=(const RedisSummaries&) = delete;

  // One MGET: the value for each key (nullopt for a miss or when Redis is unreachable).
  std::vector<std::optional<std::string>> get_many(const std::vector<std::string>& keys);
  void put(const std::string& key, const std::string& value);
  bool reachable();

 private:
  bool connect_locked();
  std::string host_;
  int port_ = 6379;
  std::chrono::milliseconds timeout_;
  int64_t ttl_s_;
  std::mutex mu_;
  redisContext* ctx_ = nullptr;
  std::chrono::steady_clock::time_point last_try_{};
};

class SummaryMemo {
 public:
  SummaryMemo(size_t lru_capacity, std::unique_ptr<RedisSummaries> redis)
      : lru_(lru_capacity), redis_(std::move(redis)) {}
  // The longest prefix with a summary: index into `keys` (keys[i] = key of the first i+1 dropped
  // messages) and its summary; nullopt when none.
  std::optional<std::pair<size_t, std::string>> longest(const std::vector<std::string>& keys);
  void put(const std::string& key, const std::string& summary);
  bool shared() const { return redis_ != nullptr; }

 private:
  SummaryLru lru_;
  std::unique_ptr<RedisSummaries> redis_;
};

}  // namespace kuai::stages
