// Shares a Store's entries between kuai processes through Redis (hiredis, blocking API):
//   <prefix>e:<id>   the entry (entry_codec JSON), expiring with the entry (SET … PXAT)
//   <prefix>n:<ns>   set of entry ids in a namespace (for flush)
//   <prefix>events   pub/sub channel: "<instance> P <entry json>" | "<instance> D <id>" | "<instance> F <ns|*>"
// start() loads every entry into the Store (so a new or restarted instance starts warm), then a
// subscriber thread applies other instances' changes as they happen, and reloads everything after a
// reconnect (nothing published while it was away is lost). Writes (put/erase/flush) are queued and
// sent by a writer thread: hiredis calls block, so they never run on the gateway's I/O threads.
// Entries live in Redis until their TTL; each process's LRU limit (max_entries) is local.
// If Redis goes away the local cache keeps working; writes made meanwhile are dropped (counted in
// stats().errors) and the subscriber keeps reconnecting.
// Thread-safety: put/erase/flush/stats from any thread.
#pragma once

#include "cache/store.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <variant>

struct redisContext;

namespace kuai::cache {

struct RedisAddress {
  std::string host = "127.0.0.1";
  int port = 6379;
  int db = 0;
  std::string password;
};
// redis://[:password@]host[:port][/db]; error message on a malformed URL.
std::variant<RedisAddress, std::string> parse_redis_url(const std::string& url);

class RedisShare {
 public:
  struct Stats {
    bool connected = false;
    uint64_t loaded = 0, applied = 0, published = 0, errors = 0;
  };

  static std::variant<std::unique_ptr<RedisShare>, std::string> start(const std::string& url, std::string prefix,
                                                                       Store& store);
  ~RedisShare();
  RedisShare(const RedisShare&) = delete;
  RedisShare& operator=(const RedisShare&) = delete;

  void put(const Entry& e);
  void erase(uint64_t id);
  void flush(const std::string& ns);  // "" = every namespace
  Stats stats() const;
  const std::string& instance() const { return instance_; }

 private:
  struct Op {
    enum class Kind { Put, Erase, Flush } kind;
    uint64_t id = 0;
    std::string ns, payload;
    int64_t expires_ms = 0;
  };

  RedisShare(RedisAddress addr, std::string prefix, Store& store);
  redisContext* connect(std::string& error) const;
  size_t load_all(redisContext* c);
  void writer_loop();
  void subscriber_loop();
  bool send(redisContext* c, const Op& op);
  void apply(std::string_view message);
  std::string entry_key(uint64_t id) const;

  RedisAddress addr_;
  std::string prefix_, channel_, instance_;
  Store& store_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Op> queue_;
  bool stopping_ = false;
  std::thread writer_, subscriber_;

  std::mutex sub_mu_;
  redisContext* sub_ctx_ = nullptr;  // guarded by sub_mu_ for shutdown()
  std::mutex ready_mu_;
  std::condition_variable ready_cv_;
  bool subscribed_ = false;

  std::atomic<bool> connected_{false};
  std::atomic<uint64_t> loaded_{0}, applied_{0}, published_{0}, errors_{0};
};

}  // namespace kuai::cache
