#include "app/train_cli.h"

#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>

namespace kuai::app {

void add_train_options(CLI::App* cmd, TrainCli& a) {
  auto& o = a.opt;
  cmd->add_option("-o,--output", a.output, "output GGUF (written to a temporary name, then renamed)")->required();
  cmd->add_option("--steps", o.steps, "optimizer steps")->capture_default_str()->check(CLI::Range(1, 1 << 30));
  cmd->add_option("--batch", o.batch, "sequences per micro-batch")->capture_default_str()->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--seq-len", o.seq_len, "tokens per training sequence")->capture_default_str()->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--accum", o.accum, "micro-batches per step (gradient accumulation)")->capture_default_str()
      ->check(CLI::Range(1, 1 << 16));
  cmd->add_option("--lr", o.adamw.lr, "peak learning rate (AdamW)")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--warmup", o.adamw.warmup, "warm-up steps (then cosine decay)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--min-lr-ratio", o.adamw.min_lr_ratio, "final learning rate / peak")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--weight-decay", o.adamw.weight_decay, "decoupled weight decay (matrices only)")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--clip", o.adamw.clip, "global gradient-norm cap; 0 = off")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--seed", o.seed, "seed of the initial weights and the batch order")->capture_default_str();
  cmd->add_option("-t,--threads", a.threads, "compute threads")->capture_default_str()->check(CLI::Range(1, 256));
  cmd->add_option("--checkpoint", o.checkpoint_path, "checkpoint file (model + optimizer state)");
  cmd->add_option("--checkpoint-every", o.checkpoint_every, "steps between checkpoints; 0 = at the end only")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  cmd->add_flag("--resume", o.resume, "continue from --checkpoint");
  cmd->add_option("--log-every", a.log_every, "steps between JSON log lines (when stderr is not a terminal)")
      ->capture_default_str()->check(CLI::Range(1, 1 << 30));
}

train::StepCallback progress_printer(const std::string& verb, int log_every) {
  const bool tty = ::isatty(2) != 0;
  return [verb, log_every, tty](const train::StepInfo& s) {
    if (tty) {
      std::fprintf(stderr, "\r%s: step %d/%d  loss %.4f  lr %.2e  %.0f tok/s  ETA %.0f s   ", verb.c_str(), s.step,
                   s.steps, s.loss, s.lr, s.tokens_per_s, s.eta_s);
      if (s.step == s.steps) std::fputc('\n', stderr);
      return;
    }
    if (s.step % log_every != 0 && s.step != s.steps) return;
    std::fprintf(stderr,
                 "{\"verb\":\"%s\",\"step\":%d,\"steps\":%d,\"loss\":%.6f,\"ce\":%.6f,\"kd\":%.6f,\"lr\":%.6g,"
                 "\"grad_norm\":%.6g,\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f,\"eta_s\":%.1f}\n",
                 verb.c_str(), s.step, s.steps, s.loss, s.ce, s.kd, s.lr, s.grad_norm, s.tokens_per_s, s.elapsed_s,
                 s.eta_s);
  };
}

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }
}  // namespace

const std::atomic<bool>* install_stop_signals() {
  std::signal(SIGINT, on_stop_signal);
  std::signal(SIGTERM, on_stop_signal);
  return &g_stop;
}

std::string train_error_hint(const std::string& verb, const std::string& message, const train::TrainOptions& o) {
  const bool stopped = message.find("stopped at step") != std::string::npos || message.find("the loss became") != std::string::npos;
  if (!stopped) return "see kuai " + verb + " --help";
  if (o.checkpoint_path.empty()) return "--checkpoint FILE --checkpoint-every N keeps progress to --resume from";
  return "rerun the same command with --resume to continue from " + o.checkpoint_path;
}

std::string output_problem(const std::string& path) {
  namespace fs = std::filesystem;
  fs::path dir = fs::path(path).parent_path();
  if (dir.empty()) dir = ".";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "the folder " + dir.string() + " does not exist";
  if (fs::is_directory(path, ec)) return path + " is a folder";
  if (::access(dir.c_str(), W_OK) != 0) return "the folder " + dir.string() + " is not writable";
  return {};
}

}  // namespace kuai::app
