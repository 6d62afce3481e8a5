#include "tools/prune_heal.h"

#include <algorithm>
#include <filesystem>
#include <optional>

#include "engine/gguf/gguf_file.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "engine/tokenizer/tokenizer.h"
#include "tools/generate.h"
#include "tools/quantize.h"
#include "train/corpus.h"
#include "train/params.h"
#include "train/trainer.h"

namespace kuai::tools {

namespace {

int window_tokens(const HealOptions& opt, int n_ctx) { return std::min(opt.seq_len, n_ctx) + 1; }

engine::Result<std::vector<int32_t>> heal_text_tokens(const LoadedModel& teacher, const HealOptions& opt) {
  auto tokens = teacher.tokenizer->encode(opt.text, /*add_special=*/true, /*parse_special=*/false);
  const int window = window_tokens(opt, teacher.model->hparams().n_ctx_train);
  if (int64_t(tokens.size()) < window)
    return engine::make_error("the healing text has " + std::to_string(tokens.size()) + " tokens; at least " +
                              std::to_string(window) + " are needed (a longer text or a smaller --heal-seq-len)");
  return tokens;
}

// Windows of seq_len + 1 tokens (generated sequences are longer: see HealOptions::generate).
engine::Result<train::Corpus> heal_corpus(const LoadedModel& teacher, const HealOptions& opt, int seq_len,
                                          engine::ThreadPool& pool) {
  train::Corpus c;
  if (!opt.text.empty()) {
    auto tokens = heal_text_tokens(teacher, opt);
    if (!tokens) return std::move(tokens).take_error();
    c.seqs.push_back(std::move(tokens).value());
    return c;
  }
  const int32_t bos = teacher.tokenizer->bos();
  return train::corpus_from_teacher(*teacher.model, opt.generate, 2 * seq_len + 1, opt.seed,
                                    bos != engine::kNoToken ? bos : 0, teacher.tokenizer->eos(), pool);
}

}  // namespace

engine::Status check_heal_options(const LoadedModel& teacher, const HealOptions& opt) {
  if (opt.steps > 0 && !opt.text.empty())
    if (auto t = heal_text_tokens(teacher, opt); !t) return engine::make_error("healing: " + t.error());
  return engine::Ok{};
}

engine::Status heal_pruned(const LoadedModel& teacher, const std::string& pruned_path, const std::string& out_path,
                           const HealOptions& opt, engine::ThreadPool& pool, HealReport* report) {
  auto f = engine::GgufFile::open(pruned_path);
  if (!f) return std::move(f).take_error();
  auto student = train::read_params(**f);
  if (!student) return engine::make_error("healing: " + student.error());
  const int seq_len = window_tokens(opt, student->config.n_ctx) - 1;  // the student's context bounds a window
  auto corpus = heal_corpus(teacher, opt, seq_len, pool);
  if (!corpus) return engine::make_error("healing: " + corpus.error());

  train::TrainOptions t;
  t.steps = opt.steps;
  t.batch = opt.batch;
  t.seq_len = seq_len;
  t.seed = opt.seed;
  t.adamw.lr = opt.lr;
  t.adamw.warmup = std::min(10, std::max(1, opt.steps / 10));
  t.tokenizer = teacher.file.get();
  train::DistillOptions d;
  d.loss = train::Divergence::kKl;
  d.temperature = opt.temperature;
  d.alpha = opt.alpha;
  d.stop_token = teacher.tokenizer->eos();
  std::optional<train::Params> teacher_params;
  if (opt.hidden > 0) {
    auto tp = train::read_params(*teacher.file);
    if (!tp) return engine::make_error("healing: " + tp.error());
    teacher_params = std::move(tp).value();
    d.hidden = opt.hidden;
    d.hidden_teacher = &*teacher_params;
  }
  auto r = train::distill(*teacher.model, *student, *corpus, t, d, pool);
  if (!r) return engine::make_error("healing: " + r.error());

  const bool requantize = !opt.type.empty() && opt.type != "f32";
  const std::string f32_path = requantize ? out_path + ".heal-f32.tmp" : out_path;
  if (auto st = train::write_model(f32_path, *student, teacher.file.get(), "kuai-prune-healed"); !st) return st;
  if (requantize) {
    QuantizeOptions q;
    q.recipe = opt.type;
    q.n_threads = int(pool.size());
    auto st = quantize_model(f32_path, out_path, q);
    std::error_code ec;
    std::filesystem::remove(f32_path, ec);
    if (!st) return st;
  }
  if (report) {
    report->steps = int(r->losses.size());
    report->data_tokens = corpus->n_tokens();
    report->first_loss = r->losses.empty() ? 0 : r->losses.front();
    report->last_loss = r->losses.empty() ? 0 : r->losses.back();
    report->seconds = r->seconds;
    report->tokens_per_s = r->tokens_per_s();
  }
  return engine::Ok{};
}

}  // namespace kuai::tools
