// `kuai distill --teacher T.gguf (--student-config K=V,.. | --student S.gguf) (--data FILE | --generate N)
// -o OUT.gguf`: knowledge distillation on the CPU (src/train); the teacher runs in the engine.
#include <cstdio>

#include "app/train_cli.h"
#include "app/verbs.h"
#include "engine/gguf/gguf_file.h"
#include "engine/model/llama_model.h"
#include "engine/threads/thread_pool.h"
#include "engine/tokenizer/tokenizer.h"
#include "train/corpus.h"
#include "train/params.h"

namespace kuai::app {
namespace {

VerbRegistrar reg("distill", [](CLI::App& root) {
  struct Args {
    TrainCli cli;
    std::string teacher, student_config, student, data, loss = "kl";
    int generate = 0, gen_len = 0;
    train::DistillOptions d;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = root.add_subcommand(
      "distill",
      "Distill a teacher GGUF into a smaller student on the CPU: loss = alpha * T^2 * D(teacher_T || student_T)\n"
      "+ (1 - alpha) * cross-entropy, on a text file or on text sampled from the teacher.");
  cmd->add_option("--teacher", a->teacher, "teacher GGUF (llama/qwen2, any type the engine loads)")->required();
  auto* sc = cmd->add_option("--student-config", a->student_config,
                             "new student over the teacher's shape: n_layer=..,n_embd=..,n_head=..,n_head_kv=..,n_ff=..,ctx=..");
  auto* sf = cmd->add_option("--student", a->student, "start from this llama GGUF instead");
  sc->excludes(sf);
  auto* data = cmd->add_option("--data", a->data, "training text (UTF-8)");
  auto* gen = cmd->add_option("--generate", a->generate, "train on N sequences sampled from the teacher (fixed seeds)")
                  ->check(CLI::Range(1, 1 << 24));
  data->excludes(gen);
  cmd->add_option("--gen-len", a->gen_len, "tokens per sampled sequence (default: --seq-len + 1)");
  cmd->add_option("--loss", a->loss, "kl|reverse-kl|skew-kl|jsd")->capture_default_str();
  cmd->add_option("--temperature", a->d.temperature, "distillation temperature T")->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--alpha", a->d.alpha, "weight of the divergence (1 - alpha: cross-entropy)")->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--top-k", a->d.top_k, "teacher probabilities kept per position; 0 = all")->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--on-policy", a->d.on_policy,
                  "share of sequences continued by the student itself (GKD; divergence only on those)")
      ->capture_default_str()->check(CLI::Range(0.0, 1.0));
  add_train_options(cmd, a->cli);
  cmd->callback([a] {
    const std::string verb = "distill";
    auto& o = a->cli.opt;
    if (const std::string why = output_problem(a->cli.output); !why.empty()) {
      set_exit_code(fail(verb, "cannot write " + a->cli.output + ": " + why, "give -o a path in a writable folder"));
      return;
    }
    auto loss = train::parse_divergence(a->loss);
    if (!loss) {
      set_exit_code(fail(verb, loss.error(), "--loss kl|reverse-kl|skew-kl|jsd"));
      return;
    }
    a->d.loss = *loss;
    if (a->student_config.empty() == a->student.empty()) {
      set_exit_code(fail(verb, "give either --student-config or --student", "e.g. --student-config n_layer=2"));
      return;
    }
    if (a->data.empty() == (a->generate == 0)) {
      set_exit_code(fail(verb, "give either --data FILE or --generate N", "--generate samples training text from the teacher"));
      return;
    }
    auto tf = engine::GgufFile::open(a->teacher);
    if (!tf) {
      set_exit_code(fail(verb, tf.error(), "--teacher must be a readable GGUF model"));
      return;
    }
    std::shared_ptr<const engine::GgufFile> tfile(std::move(tf).value());
    auto teacher = engine::model::LlamaModel::load(tfile);
    auto tok = engine::Tokenizer::from_gguf(*tfile);
    if (!teacher || !tok) {
      set_exit_code(fail(verb, teacher ? a->teacher + ": tokenizer: " + tok.error() : teacher.error(),
                         "--teacher must be a llama/qwen2 GGUF with weights and a vocabulary"));
      return;
    }
    const auto& th = (*teacher)->hparams();
    train::Params student;
    if (!a->student.empty()) {
      auto p = train::read_params_file(a->student);
      if (!p) {
        set_exit_code(fail(verb, p.error(), "--student must be a llama-architecture GGUF with weights"));
        return;
      }
      student = std::move(p).value();
    } else {
      train::ModelConfig base;
      base.n_vocab = th.n_vocab;
      base.n_embd = th.n_embd;
      base.n_layer = th.n_layer;
      base.n_head = th.n_head;
      base.n_head_kv = th.n_head_kv;
      base.n_ff = th.n_ff;
      base.n_ctx = std::min(th.n_ctx_train, 4096);
      base.rope_base = th.rope_base;
      base.rms_eps = th.rms_eps;
      base.tied = tfile->tensor("output.weight") == nullptr;
      auto c = train::parse_model_config(a->student_config, base);
      if (!c) {
        set_exit_code(fail(verb, c.error(), "see kuai distill --help"));
        return;
      }
      student = train::init_params(*c, o.seed);
    }
    if (student.config.n_vocab != th.n_vocab) {
      set_exit_code(fail(verb, "the teacher's vocabulary has " + std::to_string(th.n_vocab) + " tokens, the student's " +
                                   std::to_string(student.config.n_vocab),
                         "teacher and student must share one vocabulary (make the student with --student-config)"));
      return;
    }
    if (student.data.size() >= (*teacher)->n_params())
      std::fprintf(stderr, "kuai distill: warning: the student (%zu parameters) is not smaller than the teacher (%llu)\n",
                   student.data.size(), static_cast<unsigned long long>((*teacher)->n_params()));
    engine::ThreadPool pool(a->cli.threads);
    engine::Result<train::Corpus> corpus = train::Corpus{};
    if (!a->data.empty()) {
      corpus = train::corpus_from_file(a->data, **tok, o.seq_len + 1);
    } else {
      const int len = a->gen_len > 0 ? a->gen_len : o.seq_len + 1;
      const int32_t first = (*tok)->bos() != engine::kNoToken ? (*tok)->bos() : 0;
      corpus = train::corpus_from_teacher(**teacher, a->generate, len, o.seed, first, (*tok)->eos(), pool);
    }
    if (!corpus) {
      set_exit_code(fail(verb, corpus.error(), "give a longer text or a smaller --seq-len"));
      return;
    }
    a->d.stop_token = (*tok)->eos();
    o.tokenizer = tfile.get();
    o.stop = install_stop_signals();
    std::fprintf(stderr, "distill: student %s (%zu parameters), teacher %llu parameters, %lld tokens of data, loss %s\n",
                 student.config.describe().c_str(), student.data.size(),
                 static_cast<unsigned long long>((*teacher)->n_params()), static_cast<long long>(corpus->n_tokens()),
                 train::divergence_name(a->d.loss));
    auto r = train::distill(**teacher, student, *corpus, o, a->d, pool, progress_printer(verb, a->cli.log_every));
    if (!r) {
      set_exit_code(fail(verb, r.error(), train_error_hint(verb, r.error(), o)));
      return;
    }
    if (auto st = train::write_model(a->cli.output, student, tfile.get(), "kuai-distill"); !st) {
      set_exit_code(fail(verb, st.error(), "check the output path and free disk space"));
      return;
    }
    std::fprintf(stderr, "wrote %s (final loss %.4f, %.0f tokens/s)\n", a->cli.output.c_str(),
                 r->losses.empty() ? 0.0 : r->losses.back(), r->tokens_per_s());
  });
});

}  // namespace
}  // namespace kuai::app
