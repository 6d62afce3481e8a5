#include "stages/cache_verifier.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <functional>
#include <variant>
#include <vector>

namespace kuai::stages {

namespace net = boost::asio;
using Channel = net::experimental::concurrent_channel<void(boost::system::error_code, VerifyOutcome)>;

struct CacheVerifier::Memo {
  std::mutex mu;
  std::unordered_map<uint64_t, bool> verdicts;
  std::deque<uint64_t> order;  // insertion order, for forgetting the oldest
  size_t capacity = 0;
  // Lookups waiting for a pair's verdict while one call asks for it: a question many ask at once is
  // shown to the model once.
  std::unordered_map<uint64_t, std::vector<std::shared_ptr<Channel>>> waiting;

  std::optional<bool> find(uint64_t key) {
    std::lock_guard lock(mu);
    auto it = verdicts.find(key);
    if (it == verdicts.end()) return std::nullopt;
    return it->second;
  }
  // Registers `reply` for the pair's verdict; true when no call asks for it yet (the caller starts one).
  bool wait_for(uint64_t key, std::shared_ptr<Channel> reply) {
    std::lock_guard lock(mu);
    auto& list = waiting[key];
    list.push_back(std::move(reply));
    return list.size() == 1;
  }
  // The call's outcome: remembered when it is a verdict, and sent to every lookup still waiting.
  void finish(uint64_t key, VerifyOutcome outcome) {
    std::vector<std::shared_ptr<Channel>> replies;
    {
      std::lock_guard lock(mu);
      if (outcome == VerifyOutcome::Yes || outcome == VerifyOutcome::No) {
        if (verdicts.emplace(key, outcome == VerifyOutcome::Yes).second) order.push_back(key);
        while (order.size() > capacity) {
          verdicts.erase(order.front());
          order.pop_front();
        }
      }
      auto it = waiting.find(key);
      if (it != waiting.end()) {
        replies = std::move(it->second);
        waiting.erase(it);
      }
    }
    for (auto& r : replies) r->try_send(boost::system::error_code{}, outcome);
  }
};

namespace {

// One key per unordered pair: "same question?" does not depend on which was asked first.
uint64_t pair_key(const std::string& a, const std::string& b) {
  const std::string& lo = a < b ? a : b;
  const std::string& hi = a < b ? b : a;
  return std::hash<std::string>{}(lo + '\0' + hi);
}

// The model call, detached from the lookups that wait for it: its verdict is remembered even when it
// comes after their budgets, and sent to those still waiting.
net::awaitable<void> ask_model(pipeline::ModelCaller* models, api::ChatRequest req, api::Tenant tenant,
                               std::shared_ptr<CacheVerifier::Memo> memo, uint64_t key) {
  VerifyOutcome outcome = VerifyOutcome::Error;
  try {
    api::ChatResponse resp = co_await models->complete(req, tenant);
    outcome = CacheVerifier::parse(resp.text());
  } catch (const std::exception&) {
    outcome = VerifyOutcome::Error;
  }
  memo->finish(key, outcome);
}

}  // namespace

bool in_grey_zone(const cache::LookupResult& r, const CacheVerifierConfig& cfg) {
  return r.kind != cache::LookupResult::Kind::Hit && r.grey_entry_id != 0 && r.grey_similarity >= cfg.min_similarity;
}

std::string_view verify_outcome_name(VerifyOutcome o) {
  switch (o) {
    case VerifyOutcome::Yes: return "yes";
    case VerifyOutcome::No: return "no";
    case VerifyOutcome::Unclear: return "unclear";
    case VerifyOutcome::Error: return "error";
    case VerifyOutcome::Timeout: return "timeout";
  }
  return "error";
}

CacheVerifier::CacheVerifier(CacheVerifierConfig cfg) : cfg_(std::move(cfg)), memo_(std::make_shared<Memo>()) {
  memo_->capacity = std::max<size_t>(1, cfg_.max_verdicts);
}

api::ChatRequest CacheVerifier::request(const std::string& model, std::string_view cached, std::string_view query) {
  return pipeline::instruction_request(
      model,
      "You check a cache of answers. Decide whether the two user questions below ask for the same "
      "information, so that one correct answer serves both. Different places, products, people, numbers, "
      "dates, or whose thing it is make them different questions. Reply with one word: yes or no.",
      "Question 1: " + std::string(cached) + "\nQuestion 2: " + std::string(query), 3);
}

VerifyOutcome CacheVerifier::parse(std::string_view reply) {
  size_t i = 0;
  while (i < reply.size() && !std::isalpha(static_cast<unsigned char>(reply[i]))) ++i;
  size_t j = i;
  while (j < reply.size() && std::isalpha(static_cast<unsigned char>(reply[j]))) ++j;
  std::string word(reply.substr(i, j - i));
  for (char& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (word == "yes") return VerifyOutcome::Yes;
  if (word == "no") return VerifyOutcome::No;
  return VerifyOutcome::Unclear;
}

net::awaitable<VerifyOutcome> CacheVerifier::verify(const std::string& cached, const std::string& query,
                                                    pipeline::Services& services, const api::Tenant& tenant,
                                                    bool* remembered) {
  if (remembered) *remembered = false;
  const uint64_t key = pair_key(cached, query);
  if (auto same = memo_->find(key)) {
    if (remembered) *remembered = true;
    co_return *same ? VerifyOutcome::Yes : VerifyOutcome::No;
  }
  if (!services.models) co_return VerifyOutcome::Error;
  auto executor = co_await net::this_coro::executor;
  auto reply = std::make_shared<Channel>(executor, 1);
  if (memo_->wait_for(key, reply))
    net::co_spawn(executor, ask_model(services.models, request(cfg_.model, cached, query), tenant, memo_, key), net::detached);
  net::steady_timer budget(executor, std::chrono::milliseconds(cfg_.budget_ms));
  using namespace net::experimental::awaitable_operators;
  auto first = co_await (reply->async_receive(net::use_awaitable) || budget.async_wait(net::use_awaitable));
  if (first.index() == 0) co_return std::get<0>(first);
  co_return VerifyOutcome::Timeout;
}

}  // namespace kuai::stages
