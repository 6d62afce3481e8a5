// `kuai fake-upstream`: an OpenAI-compatible fake LLM server for tests and benchmarks (no cloud
// provider is reachable here). See src/fakeup/options.h for what each behaviour does.
#include "app/verbs.h"
#include "fakeup/script.h"
#include "fakeup/server.h"

namespace kuai::app {
namespace {

VerbRegistrar reg("fake-upstream", [](CLI::App& root) {
  auto opts = std::make_shared<fakeup::Options>();
  auto* cmd = root.add_subcommand(
      "fake-upstream",
      "Run an OpenAI-compatible fake LLM server (chat, completions, embeddings, models; GET /stats for counters).\n"
      "Answers are deterministic (a function of the request and --seed); usage.prompt_tokens counts words + CJK\n"
      "characters of what it received.");
  cmd->add_option("--host", opts->host, "address to listen on")->capture_default_str();
  cmd->add_option("--port", opts->port, "port; 0 picks a free one (printed as 'listening on HOST:PORT' on stderr)")
      ->capture_default_str();
  cmd->add_option("--threads", opts->threads, "I/O threads")->capture_default_str()->check(CLI::Range(1, 64));
  cmd->add_option("--ttft-ms", opts->ttft_ms, "time to first token (ms)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--tokens-per-s", opts->tokens_per_s, "token pacing after the first; 0 = as fast as possible")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--answer-tokens", opts->answer_tokens, "answer length in tokens")->capture_default_str()
      ->check(CLI::Range(0, 1000000));
  cmd->add_option("--latency-per-prompt-token-us", opts->latency_per_prompt_token_us,
                  "extra time to first token per prompt token (µs)")->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--error-rate", opts->error_rate, "fraction of model requests answered 500 (seeded)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--rate-limit-every", opts->rate_limit_every, "every Nth model request gets 429; 0 = never")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--retry-after-s", opts->retry_after_s, "Retry-After of a 429 in seconds (also sent as retry-after-ms)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_option("--stream-error-after", opts->stream_error_after,
                  "chat streams: after N tokens send an SSE error event ({\"error\": …}) and end the body");
  cmd->add_option("--cut-stream-after", opts->cut_stream_after,
                  "close the connection after N tokens without [DONE] (non-stream: a truncated body); -1 = never")
      ->capture_default_str();
  cmd->add_flag("--garbage", opts->garbage, "answer 200 with a body that is not JSON");
  cmd->add_option("--seed", opts->seed, "seed of answers and injected errors")->capture_default_str();
  cmd->add_option("--model-name", opts->model_name, "model ids listed by GET /v1/models (comma-separated)")
      ->capture_default_str();
  cmd->add_flag("--echo", opts->echo, "the answer is the JSON of the messages received");
  cmd->add_option("--embedding-dim", opts->embedding_dim, "embedding vector size")->capture_default_str()
      ->check(CLI::Range(1, 65536));
  auto pairs_file = std::make_shared<std::string>();
  cmd->add_option("--embedding-pairs", *pairs_file,
                  "a stand-in sentence embedder: JSONL pairs {a, b, same}; b at cosine 0.95 to a when same, 0.92 when not");
  auto script_file = std::make_shared<std::string>();
  cmd->add_option("--script", *script_file,
                  "scripted chat answers: lines 'PATTERN => ANSWER' checked in order against the last message "
                  "(substring; * = any; \\n = line break; '!500 msg' = that HTTP error)");
  cmd->add_option("--tls-cert", opts->tls_cert, "PEM certificate chain: serve HTTPS");
  cmd->add_option("--tls-key", opts->tls_key, "PEM private key for --tls-cert");
  cmd->callback([opts, script_file, pairs_file] {
    if (!pairs_file->empty()) {
      if (auto err = fakeup::load_embedding_pairs(*pairs_file, opts->embedding_pairs)) {
        set_exit_code(fail("fake-upstream", *err, "one JSON object a line, as kuai cache eval reads"));
        return;
      }
    }
    if (!script_file->empty()) {
      if (auto err = fakeup::load_script(*script_file, opts->script)) {
        set_exit_code(fail("fake-upstream", *err, "one rule a line: PATTERN => ANSWER"));
        return;
      }
    }
    if (opts->tls_cert.empty() != opts->tls_key.empty()) {
      set_exit_code(fail("fake-upstream", "--tls-cert and --tls-key go together", "give both PEM files, or neither"));
      return;
    }
    std::string error;
    int rc = fakeup::run_server(*opts, error);
    if (rc != 0) rc = fail("fake-upstream", error, "check --host/--port (is the port taken?) and the TLS files");
    set_exit_code(rc);
  });
});

}  // namespace
}  // namespace kuai::app
