// bench_distill: knowledge distillation against plain next-token training, same student shape, same
// steps, same data. Teacher: the real stories260K (dim 64, 5 layers, 8 heads, 4 KV heads, vocab 512).
// Student: the teacher's width with 2 of its 5 layers (--student-layers). Data: sequences sampled from
// the teacher with training seeds; held-out sequences with other seeds. Students (a) cross-entropy on
// the sampled text, (b) distilled (KL to the teacher's full distribution, --alpha, --temperature).
// Prints held-out perplexity, KL(teacher || student), top-1 agreement, student vs teacher decode speed
// (same run), training tokens/s and forward+backward GFLOP/s as a share of the engine's prefill
// GFLOP/s on the student's shape. Last line: `distill: kd_ppl=… ce_ppl=… … student_speedup=…`.
//   bench_distill [--steps N] [--train-seqs N] [--heldout-seqs N] [--seq-len N] [--batch N] [--threads N]
//                 [--student-layers N] [--alpha A] [--temperature T] [--lr LR] [--teacher FILE]
//                 [--on-policy L]   (adds (c): distilled with a share L of windows continued by the student, GKD)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

#include "engine/gguf/gguf_file.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "support/paths.h"
#include "tools/generate.h"
#include "train/corpus.h"
#include "train/params.h"
#include "train/trainer.h"

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;
using namespace kuai;

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

// Greedy decode tokens/s of a model file (best of `reps` runs of n tokens after a short prompt).
double decode_tps(const std::string& path, int n, int reps, engine::ThreadPool& pool) {
  auto lm = tools::load_model(path);
  if (!lm) {
    std::fprintf(stderr, "bench_distill: %s\n", lm.error().c_str());
    std::exit(1);
  }
  tools::GenerateOptions opt;
  opt.n_predict = n;
  opt.n_ctx = n + 8;
  opt.sampling.temperature = 0;
  opt.stop_at_eog = false;
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    auto g = tools::generate(*lm, "Once upon a time", opt, pool);
    if (g && g->generate_seconds > 0) best = std::max(best, double(g->ids.size()) / g->generate_seconds);
  }
  return best;
}

// Matmul + attention FLOPs of one forward pass per token at average context ctx_avg.
double forward_flops_per_token(const train::ModelConfig& c, double ctx_avg) {
  const double E = c.n_embd, Q = c.q_dim(), KV = c.kv_dim(), F = c.n_ff, V = c.n_vocab;
  const double per_layer = 2 * (E * Q + 2 * E * KV + Q * E + 3 * E * F) + 4 * ctx_avg * Q;
  return c.n_layer * per_layer + 2 * E * V;
}

// The engine's prefill GFLOP/s on a model file: batches of seq tokens, best of 5 rounds of ~0.3 s (the
// machine is shared; the best round is the least disturbed one).
double engine_prefill_gflops(const std::string& path, const train::ModelConfig& c, int seq, engine::ThreadPool& pool) {
  auto m = engine::model::LlamaModel::load(path);
  if (!m) return 0;
  engine::model::ForwardState st(pool);
  std::vector<float> logits(size_t(seq) * size_t(c.n_vocab));
  std::vector<engine::model::BatchToken> batch;
  for (int i = 0; i < seq; ++i) batch.push_back({int32_t(1 + i % 100), i, 0, true});
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    int64_t tokens = 0;
    const auto t0 = Clock::now();
    double secs = 0;
    while (secs < 0.3) {
      auto kv = (*m)->make_kv_cache(seq);
      engine::model::SequenceKv* seqs[] = {kv.get()};
      if (!(*m)->forward(batch, seqs, st, logits.data())) return 0;
      tokens += seq;
      secs = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    best = std::max(best, double(tokens) * forward_flops_per_token(c, (seq + 1) / 2.0) / secs / 1e9);
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  int steps = 300, train_seqs = 384, heldout_seqs = 64, seq_len = 64, batch = 16, threads = 2, student_layers = 2;
  float alpha = 0.9f, temperature = 1.0f, lr = 3e-3f, on_policy = 0.0f;
  std::string teacher_path = test::shared_dir() + "/models/stories260K/stories260K.gguf";
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : "0"; };
    if (a == "--steps") steps = std::stoi(next());
    else if (a == "--train-seqs") train_seqs = std::stoi(next());
    else if (a == "--heldout-seqs") heldout_seqs = std::stoi(next());
    else if (a == "--seq-len") seq_len = std::stoi(next());
    else if (a == "--batch") batch = std::stoi(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--student-layers") student_layers = std::stoi(next());
    else if (a == "--alpha") alpha = std::stof(next());
    else if (a == "--temperature") temperature = std::stof(next());
    else if (a == "--lr") lr = std::stof(next());
    else if (a == "--teacher") teacher_path = next();
    else if (a == "--on-policy") on_policy = std::stof(next());
    else {
      std::fprintf(stderr, "bench_distill: unknown argument %s (see the comment at the top of bench/distill/main.cpp)\n", a.c_str());
      return 2;
    }
  }
  auto tfile = engine::GgufFile::open(teacher_path);
  if (!tfile) {
    std::fprintf(stderr, "bench_distill: %s\n", tfile.error().c_str());
    return 1;
  }
  std::shared_ptr<const engine::GgufFile> tf(std::move(tfile).value());
  auto teacher = engine::model::LlamaModel::load(tf);
  auto tcfg = train::read_config(*tf);
  if (!teacher || !tcfg) {
    std::fprintf(stderr, "bench_distill: %s\n", teacher ? tcfg.error().c_str() : teacher.error().c_str());
    return 1;
  }
  engine::ThreadPool pool(threads);
  const auto bos = tf->get_u32("tokenizer.ggml.bos_token_id").value_or(1);
  const auto eos = tf->get_u32("tokenizer.ggml.eos_token_id").value_or(2);
  std::printf("bench_distill on %s, %d threads; teacher %s (%s)\n", cpu_name().c_str(), threads, teacher_path.c_str(),
              tcfg->describe().c_str());

  // data: training seeds 1.., held-out seeds 1000001..
  auto t0 = Clock::now();
  auto train_data = train::corpus_from_teacher(**teacher, train_seqs, seq_len + 1, 1, int32_t(bos), int32_t(eos), pool);
  auto heldout = train::corpus_from_teacher(**teacher, heldout_seqs, seq_len + 1, 1000001, int32_t(bos), int32_t(eos), pool);
  if (!train_data || !heldout) {
    std::fprintf(stderr, "bench_distill: sampling failed\n");
    return 1;
  }
  std::printf("data: %d training sequences (%lld tokens), %d held-out (%lld tokens), sampled in %.1f s\n", train_seqs,
              static_cast<long long>(train_data->n_tokens()), heldout_seqs, static_cast<long long>(heldout->n_tokens()),
              std::chrono::duration<double>(Clock::now() - t0).count());

  train::ModelConfig sc = *tcfg;
  sc.n_layer = student_layers;
  sc.n_ctx = std::max(seq_len, 128);
  train::TrainOptions opt;
  opt.steps = steps;
  opt.batch = batch;
  opt.seq_len = seq_len;
  opt.seed = 7;
  opt.adamw.lr = lr;
  opt.adamw.warmup = std::max(1, steps / 20);
  opt.adamw.weight_decay = 0.0f;
  train::DistillOptions dopt;
  dopt.loss = train::Divergence::kKl;
  dopt.alpha = alpha;
  dopt.temperature = temperature;

  train::Params ce = train::init_params(sc, 11), kd = ce;
  auto rce = train::train(ce, *train_data, opt, pool);
  auto rkd = train::distill(**teacher, kd, *train_data, opt, dopt, pool);
  if (!rce || !rkd) {
    std::fprintf(stderr, "bench_distill: %s\n", rce ? rkd.error().c_str() : rce.error().c_str());
    return 1;
  }
  auto ece = train::evaluate(ce, *heldout, teacher->get(), pool);
  auto ekd = train::evaluate(kd, *heldout, teacher->get(), pool);
  if (!ece || !ekd) return 1;
  // the teacher's own perplexity on the held-out text, for scale
  double t_nll = 0;
  {
    auto tp = train::read_params(*tf);
    if (tp) {
      auto et = train::evaluate(*tp, *heldout, nullptr, pool);
      if (et) t_nll = std::log(et->ppl);
    }
  }
  std::printf("student %s, %zu parameters (teacher %llu); %d steps x %d sequences of %d tokens, lr %.1e\n",
              sc.describe().c_str(), ce.data.size(), static_cast<unsigned long long>((*teacher)->n_params()), steps, batch,
              seq_len, double(lr));
  std::printf("%-22s %10s %12s %10s %12s %12s\n", "held-out", "ppl", "KL(t||s)", "top-1", "final loss", "train tok/s");
  std::printf("%-22s %10.3f %12s %10s %12s %12s\n", "teacher", std::exp(t_nll), "0", "1", "-", "-");
  std::printf("%-22s %10.3f %12.4f %10.4f %12.4f %12.0f\n", "(a) cross-entropy", ece->ppl, ece->kl, ece->agree,
              rce->losses.back(), rce->tokens_per_s());
  std::printf("%-22s %10.3f %12.4f %10.4f %12.4f %12.0f\n", "(b) distilled (kl)", ekd->ppl, ekd->kl, ekd->agree,
              rkd->losses.back(), rkd->tokens_per_s());

  if (on_policy > 0) {
    train::Params op = train::init_params(sc, 11);
    train::DistillOptions gkd = dopt;
    gkd.on_policy = on_policy;
    gkd.stop_token = int32_t(eos);
    auto rop = train::distill(**teacher, op, *train_data, opt, gkd, pool);
    auto eop = rop ? train::evaluate(op, *heldout, teacher->get(), pool) : engine::Result<train::EvalResult>(engine::make_error(rop.error()));
    if (!eop) {
      std::fprintf(stderr, "bench_distill: %s\n", eop.error().c_str());
      return 1;
    }
    std::printf("%-22s %10.3f %12.4f %10.4f %12.4f %12.0f\n", ("(c) on-policy " + std::to_string(on_policy).substr(0, 4)).c_str(),
                eop->ppl, eop->kl, eop->agree, rop->losses.back(), rop->tokens_per_s());
  }

  // decode speed, same run: the teacher file and the distilled student written as GGUF
  const std::string spath = (fs::temp_directory_path() / ("bench_distill_" + std::to_string(::getpid()) + ".gguf")).string();
  if (auto st = train::write_model(spath, kd, tf.get(), "bench-distill-student"); !st) {
    std::fprintf(stderr, "bench_distill: %s\n", st.error().c_str());
    return 1;
  }
  const double t_tps = decode_tps(teacher_path, 256, 5, pool), s_tps = decode_tps(spath, 256, 5, pool);
  const double speedup = s_tps / std::max(1e-9, t_tps);
  std::printf("decode (greedy, 256 tokens, best of 5): teacher %.0f tok/s, student %.0f tok/s: %.2fx\n", t_tps, s_tps, speedup);
  // training throughput as a share of the engine's prefill on the student's shape
  const double train_flops = 3 * forward_flops_per_token(sc, (seq_len + 1) / 2.0);  // forward + backward
  const double train_gflops = rce->tokens_per_s() * train_flops / 1e9;
  const double prefill_gflops = engine_prefill_gflops(spath, sc, seq_len, pool);
  std::printf("training (cross-entropy run): %.0f tokens/s, %.2f GFLOP/s forward+backward; engine prefill on the same "
              "shape: %.2f GFLOP/s; share %.0f%% (training: mean of the whole run; both vary on a shared machine)\n",
              rce->tokens_per_s(), train_gflops, prefill_gflops, 100 * train_gflops / std::max(1e-9, prefill_gflops));
  fs::remove(spath);
  std::printf("distill: kd_ppl=%.3f ce_ppl=%.3f kd_kl=%.4f ce_kl=%.4f kd_agree=%.4f ce_agree=%.4f student_speedup=%.2f\n",
              ekd->ppl, ece->ppl, ekd->kl, ece->kl, ekd->agree, ece->agree, speedup);
  return 0;
}
