#include "upstream/local_backend.h"
#include "upstream/local_embedding_backend.h"

#include "api/error.h"
#include "api/request_id.h"
#include "api/stream.h"
#include "config/config.h"
#include "engine/gguf/gguf_file.h"
#include "engine/kv/byte_size.h"
#include "engine/model/llama_model.h"
#include "engine/sched/engine.h"
#include "engine/tokenizer/tokenizer.h"
#include "upstream/dispatcher.h"
#include "upstream/engine_metrics.h"
#include "upstream/local_text.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include <algorithm>
#include <cmath>

// GCC 12 reports asio's awaitable frame operator new/delete pair as mismatched in coroutines that
// co_await inside a loop (a known false positive of its coroutine lowering); the pair is asio's own.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
#include <filesystem>
#include <map>
#include <mutex>
#include <random>

namespace kuai::upstream {

namespace net = boost::asio;
namespace sched = engine::sched;
using Channel = net::experimental::concurrent_channel<void(boost::system::error_code, sched::Event)>;

namespace {

// What a text-only engine without tool calling would silently get wrong is refused instead: an image,
// audio or file part (the answer would ignore it; text and an earlier refusal are fine) and a
// tool_choice that demands a call. Tools offered with
// tool_choice "auto" or "none" are allowed: answering in text is a valid choice there.
void reject_what_the_engine_cannot_read(const api::ChatRequest& req) {
  for (size_t i = 0; i < req.messages.size(); ++i) {
    const auto* content = req.messages[i].raw.if_contains("content");
    if (!content || !content->is_array()) continue;
    for (const auto& part : content->as_array()) {
      const auto* type = part.is_object() ? part.as_object().if_contains("type") : nullptr;
      if (type && type->is_string() && type->as_string() != "text" && type->as_string() != "refusal")
        throw api::Error::bad_request("the embedded engine reads text only: messages[" + std::to_string(i) +
                                          "] has a '" + std::string(type->as_string()) + "' part",
                                      "messages[" + std::to_string(i) + "].content");
    }
  }
  if (const auto* tc = req.raw.if_contains("tool_choice")) {
    const bool demands = (tc->is_string() && tc->as_string() == "required") || tc->is_object();
    if (demands)
      throw api::Error::bad_request("the embedded engine does not call tools: tool_choice must be \"auto\" or \"none\"",
                                    "tool_choice");
  }
}

std::optional<double> raw_number(const boost::json::object& raw, std::string_view key) {
  const auto* v = raw.if_contains(key);
  if (!v || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

// Where the engine thread delivers a request's events. The channel is owned by the request's coroutine
// (InFlight) and destroyed there, on an I/O thread while its io_context lives; the engine thread only
// reaches it through this mailbox, under the mutex, so it can never hold the last reference (a channel
// destroyed on the engine thread after the io_context is gone is a use-after-free).
struct Mailbox {
  std::mutex m;
  Channel* channel = nullptr;  // null once the request's coroutine is gone
  void post(const sched::Event& ev) {
    std::lock_guard lock(m);
    if (channel) channel->try_send(boost::system::error_code{}, ev);
  }
  void close() {
    std::lock_guard lock(m);
    channel = nullptr;
  }
};

// One request in flight: its channel and, until its final event, a cancel on destruction (client gone,
// coroutine destroyed) so its KV blocks are freed at once.
struct InFlight {
  sched::Engine* engine = nullptr;
  std::vector<sched::RequestId> ids;
  std::unique_ptr<Channel> channel;
  std::shared_ptr<Mailbox> mailbox = std::make_shared<Mailbox>();
  size_t open = 0;
  ~InFlight() {
    mailbox->close();  // waits for a delivery in progress; none follows
    if (open == 0) return;
    for (auto id : ids) engine->cancel(id);
  }
};

// Submits `reqs` (ids set here) with events going to one channel. Throws api::Error 400 on a request
// the engine refuses.
net::awaitable<void> submit_all(sched::Engine& engine, std::vector<sched::Request>& reqs, InFlight& fl) {
  auto ex = co_await net::this_coro::executor;
  size_t capacity = 8;
  for (const auto& r : reqs) capacity += size_t(r.embed ? 1 : r.max_tokens) + 2;
  fl.engine = &engine;
  fl.channel = std::make_unique<Channel>(ex, capacity);
  fl.mailbox->channel = fl.channel.get();
  for (auto& r : reqs) {
    r.id = engine.next_id();
    auto err = engine.submit(r, [mailbox = fl.mailbox](const sched::Event& ev) { mailbox->post(ev); });
    if (err) throw api::Error::bad_request("local model: " + *err);
    fl.ids.push_back(r.id);
    ++fl.open;
  }
}

net::awaitable<sched::Event> next_event(InFlight& fl) {
  sched::Event ev = co_await fl.channel->async_receive(net::use_awaitable);
  if (ev.finish != sched::FinishReason::kNone && fl.open > 0) --fl.open;
  co_return ev;
}

std::string finish_name(sched::FinishReason f) {
  switch (f) {
    case sched::FinishReason::kLength: return "length";
    default: return "stop";
  }
}

void throw_if_failed(const sched::Event& ev) {
  if (ev.finish == sched::FinishReason::kError) throw api::Error::internal("local model failed: " + ev.error);
  if (ev.finish == sched::FinishReason::kCancelled) throw api::Error::unavailable("local model: the engine is stopping");
}

}  // namespace

struct LocalBackend::Impl {
  static api::Error context_exceeded(int64_t ctx, bool raw, const std::string& tokens) {
    return api::Error(400, "invalid_request_error",
                      "This model's maximum context length is " + std::to_string(ctx) + " tokens. However, your " +
                          (raw ? "prompt" : "messages") + " resulted in " + tokens +
                          " tokens (one more token is needed for the answer).",
                      "context_length_exceeded", raw ? "prompt" : "messages");
  }

  // make_request, off the I/O thread when the prompt is long enough for tokenizing to stall the
  // connections that thread serves (B4 of issue 14): a worker thread runs it, the caller resumes on
  // its own executor.
  static net::awaitable<sched::Request> make_request_off_io(const LocalBackend& b, const api::ChatRequest& req) {
    size_t bytes = req.raw_prompt ? req.raw_prompt->size() : 0;
    for (const auto& m : req.messages) bytes += m.content.size();
    if (bytes < kOffIoPromptBytes) co_return make_request(b, req);
    co_return co_await net::co_spawn(
        tokenizer_pool().get_executor(),
        [&b, &req]() -> net::awaitable<sched::Request> { co_return make_request(b, req); }, net::use_awaitable);
  }
  static constexpr size_t kOffIoPromptBytes = 16384;
  static net::thread_pool& tokenizer_pool() {
    static net::thread_pool pool(2);
    return pool;
  }

  // The engine request for a chat/completion request; throws api::Error 400.
  static sched::Request make_request(const LocalBackend& b, const api::ChatRequest& req) {
    const auto& tok = *b.tokenizer_;
    const std::string prompt = b.render_prompt(req);
    const bool raw = req.raw_prompt.has_value();
    const int64_t ctx = b.engine_->max_context();
    // A prompt that cannot fit is refused before tokenizing it (an 8 MB prompt took seconds).
    if (tok.kind() != engine::TokenizerKind::WordPiece && tok.max_token_bytes() > 0) {
      const int64_t at_least = int64_t(prompt.size() / tok.max_token_bytes());
      if (at_least >= ctx) throw context_exceeded(ctx, raw, "at least " + std::to_string(at_least));
    }
    sched::Request r;
    // Chat templates hold special-token text (<|im_start|> …) but no BOS: the tokenizer adds it.
    r.prompt = tok.encode(prompt, /*add_special=*/true, /*parse_special=*/!raw);
    if (r.prompt.empty()) throw api::Error::bad_request("the prompt is empty", raw ? "prompt" : "messages");
    const int64_t n = int64_t(r.prompt.size());
    if (n >= ctx) throw context_exceeded(ctx, raw, std::to_string(n));
    if (req.n != 1)
      throw api::Error::bad_request("the embedded engine returns one choice: 'n' must be 1, got " + std::to_string(req.n), "n");
    reject_what_the_engine_cannot_read(req);
    if (req.logprobs)
      throw api::Error::bad_request("the embedded engine does not return log probabilities: leave 'logprobs' off", "logprobs");
    if (req.max_tokens && *req.max_tokens < 1) {
      throw api::Error::bad_request("max_tokens must be at least 1, got " + std::to_string(*req.max_tokens), "max_tokens");
    }
    r.max_tokens = int32_t(std::min<int64_t>(req.max_tokens.value_or(ctx - n), ctx - n));
    r.stop_tokens = tok.eog_ids();
    if (const auto* ie = req.raw.if_contains("ignore_eos"); ie && ie->is_bool() && ie->as_bool()) r.stop_tokens.clear();
    auto& s = r.sampling;
    s.temperature = float(req.temperature.value_or(b.opts_.default_temperature));
    s.top_p = float(req.top_p.value_or(1.0));
    s.top_k = 0;
    s.min_p = 0;
    if (auto v = raw_number(req.raw, "top_k")) s.top_k = int32_t(*v);
    if (auto v = raw_number(req.raw, "min_p")) s.min_p = float(*v);
    if (auto v = raw_number(req.raw, "repetition_penalty")) s.repeat_penalty = float(*v);
    if (auto v = raw_number(req.raw, "repeat_penalty")) s.repeat_penalty = float(*v);
    if (auto v = raw_number(req.raw, "frequency_penalty")) s.frequency_penalty = float(*v);
    if (auto v = raw_number(req.raw, "presence_penalty")) s.presence_penalty = float(*v);
    if (req.seed) s.seed = uint64_t(*req.seed);
    else s.seed = std::random_device{}();
    return r;
  }
};

std::variant<std::shared_ptr<LocalBackend>, std::string> LocalBackend::load(const LocalModelOptions& opts,
                                                                            const sched::EngineOptions& eng) {
  auto model = engine::model::LlamaModel::load(opts.path);
  if (!model) return "model '" + opts.name + "': " + model.error();
  std::shared_ptr<const engine::model::LlamaModel> shared(std::move(model).value());
  auto tok = engine::Tokenizer::from_gguf(shared->file());
  if (!tok) return "model '" + opts.name + "': tokenizer: " + tok.error();
  if (!opts.chat_template.empty()) {
    std::string err;
    if (!resolve_chat_template(**tok, opts.chat_template, &err)) return "config 'engine.chat_template': " + err;
  }
  sched::EngineOptions eo = eng;
  auto e = sched::Engine::create(shared, eo);
  if (!e) return "model '" + opts.name + "': " + e.error();
  std::shared_ptr<LocalBackend> b(new LocalBackend());
  b->opts_ = opts;
  b->tokenizer_ = std::move(tok).value();
  b->engine_ = std::move(e).value();
  return b;
}

LocalBackend::~LocalBackend() = default;

std::string LocalBackend::describe() const { return "local:" + opts_.path + " (" + opts_.name + ")"; }

std::string LocalBackend::render_prompt(const api::ChatRequest& req) const {
  if (req.raw_prompt) return *req.raw_prompt;
  return render_chat(*tokenizer_, req.messages, opts_.chat_template);
}

net::awaitable<api::ChatResponse> LocalBackend::complete(const api::ChatRequest& req) {
  std::vector<sched::Request> reqs(1);
  reqs[0] = co_await Impl::make_request_off_io(*this, req);
  InFlight fl;
  co_await submit_all(*engine_, reqs, fl);
  TextAssembler text(*tokenizer_, req.stop);
  sched::Event last;
  for (;;) {
    sched::Event ev = co_await next_event(fl);
    if (ev.token >= 0) text.add(ev.token);
    if (ev.finish != sched::FinishReason::kNone) {
      last = std::move(ev);
      break;
    }
    if (text.stopped()) {  // a stop string: end the sequence now
      engine_->cancel(reqs[0].id);
    }
  }
  if (!text.stopped()) throw_if_failed(last);
  api::ChatResponse resp;
  resp.id = api::new_request_id(req.raw_prompt ? "cmpl-" : "chatcmpl-");
  resp.model = req.model;
  resp.created = api::unix_now();
  api::Choice choice;
  choice.content = text.take_all();
  choice.finish_reason = text.stopped() ? "stop" : finish_name(last.finish);
  resp.choices.push_back(std::move(choice));
  resp.usage = api::Usage{last.n_prompt, text.n_tokens()};
  co_return resp;
}

net::awaitable<void> LocalBackend::stream(const api::ChatRequest& req, ChunkSink& sink) {
  std::vector<sched::Request> reqs(1);
  reqs[0] = co_await Impl::make_request_off_io(*this, req);
  InFlight fl;
  co_await submit_all(*engine_, reqs, fl);
  const std::string id = api::new_request_id("chatcmpl-");
  const int64_t created = api::unix_now();
  TextAssembler text(*tokenizer_, req.stop);
  bool sent_role = false;
  // Not a coroutine lambda: GCC 12 mishandles by-value parameters of those.
  auto chunk = [&](std::string delta, std::optional<std::string> finish) {
    api::ChatChunk c;
    c.json = api::chunk_json(id, req.model, created, sent_role ? "" : "assistant", delta,
                             finish ? std::optional<std::string_view>(*finish) : std::nullopt);
    sent_role = true;
    c.delta = std::move(delta);
    c.finish_reason = std::move(finish);
    return c;
  };
  sched::Event last;
  for (;;) {
    sched::Event ev = co_await next_event(fl);
    if (ev.token >= 0) {
      text.add(ev.token);
      std::string delta = text.take_ready();
      if (!delta.empty()) {
        const api::ChatChunk c = chunk(std::move(delta), std::nullopt);
        if (!co_await sink.on_chunk(c)) co_return;  // client gone: ~InFlight cancels the sequence
      }
    }
    if (ev.finish != sched::FinishReason::kNone) {
      last = std::move(ev);
      break;
    }
    if (text.stopped()) engine_->cancel(reqs[0].id);
  }
  if (!text.stopped()) throw_if_failed(last);
  std::string rest = text.take_all();
  if (!rest.empty()) {
    const api::ChatChunk c = chunk(std::move(rest), std::nullopt);
    if (!co_await sink.on_chunk(c)) co_return;
  }
  const api::ChatChunk fin = chunk("", text.stopped() ? "stop" : finish_name(last.finish));
  if (!co_await sink.on_chunk(fin)) co_return;
  if (req.include_usage) {
    api::Usage u{last.n_prompt, text.n_tokens()};
    api::ChatChunk c;
    c.json = api::usage_chunk_json(id, req.model, created, u);
    c.usage = u;
    co_await sink.on_chunk(c);
  }
}

net::awaitable<api::Embeddings> LocalBackend::embed(const api::EmbeddingRequest& req) {
  if (req.input.empty()) throw api::Error::bad_request("input must not be empty", "input");
  std::vector<sched::Request> reqs;
  api::Embeddings out;
  out.model = req.model;
  for (size_t i = 0; i < req.input.size(); ++i) {
    sched::Request r;
    r.prompt = tokenizer_->encode(req.input[i], true, false);
    r.embed = true;
    if (r.prompt.empty()) throw api::Error::bad_request("input[" + std::to_string(i) + "] is empty", "input");
    if (int64_t(r.prompt.size()) > engine_->max_context()) {
      throw api::Error(400, "invalid_request_error",
                       "input[" + std::to_string(i) + "] has " + std::to_string(r.prompt.size()) +
                           " tokens; this model's maximum context length is " + std::to_string(engine_->max_context()),
                       "context_length_exceeded", "input");
    }
    out.usage.prompt_tokens += int64_t(r.prompt.size());
    reqs.push_back(std::move(r));
  }
  InFlight fl;
  co_await submit_all(*engine_, reqs, fl);
  std::map<sched::RequestId, size_t> index;
  for (size_t i = 0; i < reqs.size(); ++i) index[reqs[i].id] = i;
  out.data.resize(reqs.size());
  while (fl.open > 0) {
    sched::Event ev = co_await next_event(fl);
    if (ev.finish == sched::FinishReason::kNone) continue;
    throw_if_failed(ev);
    out.data[index[ev.id]] = std::move(ev.embedding);
  }
  co_return out;
}

std::variant<sched::EngineOptions, std::string> engine_options_from_config(const config::Config& cfg) {
  sched::EngineOptions o;
  const YAML::Node mem = cfg.at("engine.kv_memory");
  if (mem && !mem.IsNull()) {
    std::string err;
    auto bytes = engine::kv::parse_byte_size(mem.as<std::string>(""), &err);
    if (!bytes) return "config 'engine.kv_memory': " + err;
    o.kv_memory_bytes = *bytes;
  }
  const std::string type = cfg.get<std::string>("engine.kv_type", "f16");
  auto kt = engine::kv::kv_type_from_name(type);
  if (!kt) return "config 'engine.kv_type': '" + type + "' is not one of f16, q8_0, f32";
  o.kv_type = *kt;
  o.block_tokens = cfg.get<int>("engine.block_tokens", o.block_tokens);
  o.threads = cfg.get<int>("engine.threads", o.threads);
  o.max_batch_tokens = cfg.get<int>("engine.max_batch_tokens", o.max_batch_tokens);
  o.max_seqs = cfg.get<int>("engine.max_seqs", o.max_seqs);
  o.max_context = cfg.get<int>("engine.max_context", o.max_context);
  if (o.block_tokens < 1 || o.block_tokens > 1024) return std::string("config 'engine.block_tokens' must be in [1, 1024]");
  if (o.max_batch_tokens < 1) return std::string("config 'engine.max_batch_tokens' must be at least 1");
  if (o.max_seqs < 1) return std::string("config 'engine.max_seqs' must be at least 1");
  if (o.threads < 0 || o.max_context < 0) return std::string("config 'engine.threads' / 'engine.max_context' must be >= 0");
  return o;
}

namespace {

// Whether a GGUF file is a BERT-family embedder (LocalEmbeddingBackend's); false when it is not, or
// cannot be read (LocalBackend::load then names the problem).
bool is_bert_file(const std::string& path) {
  auto f = engine::GgufFile::open(path);
  return f && (*f)->architecture() == "bert";
}

}  // namespace

std::optional<std::string> add_local_models(const config::Config& cfg, Dispatcher& dispatcher, obs::Metrics* metrics) {
  const YAML::Node models = cfg.at("engine.models");
  if (!models || models.IsNull()) return std::nullopt;
  if (!models.IsMap()) return std::string("config 'engine.models' must be a map of name: path.gguf");
  auto eo = engine_options_from_config(cfg);
  if (auto* err = std::get_if<std::string>(&eo)) return *err;
  const auto existing = dispatcher.model_names();
  bool default_taken = std::find(existing.begin(), existing.end(), "default") != existing.end();
  for (const auto& kv : models) {
    LocalModelOptions lo;
    lo.name = kv.first.as<std::string>("");
    lo.path = kv.second.as<std::string>("");
    if (lo.name.empty() || lo.path.empty()) return std::string("config 'engine.models': empty name or path");
    lo.chat_template = cfg.get<std::string>("engine.chat_template", "");
    lo.default_temperature = cfg.get<double>("engine.default_temperature", 1.0);
    auto opts = std::get<sched::EngineOptions>(eo);
    if (is_bert_file(lo.path)) {  // a sentence embedder: /v1/embeddings only, never the default chat model
      auto b = LocalEmbeddingBackend::load(lo.name, lo.path, opts.threads, metrics);
      if (auto* err = std::get_if<std::string>(&b)) return *err;
      dispatcher.add_backend(lo.name, std::get<std::shared_ptr<LocalEmbeddingBackend>>(b));
      continue;
    }
    if (metrics) opts.observer = std::make_shared<EngineMetrics>(*metrics, lo.name);
    auto b = LocalBackend::load(lo, opts);
    if (auto* err = std::get_if<std::string>(&b)) return *err;
    auto backend = std::get<std::shared_ptr<LocalBackend>>(b);
    dispatcher.add_backend(lo.name, backend);
    // The first local model is also "default" unless config already has one (e.g. --upstream).
    if (!default_taken && lo.name != "default") {
      dispatcher.add_backend("default", backend);
      default_taken = true;
    }
  }
  return std::nullopt;
}

}  // namespace kuai::upstream
