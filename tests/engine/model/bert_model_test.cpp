// BertModel (a BERT-family sentence embedder) against llama.cpp's llama-embedding on the same `kuai
// synth --preset tiny-bert` file: the same L2-normalised mean-pooled vector for English, Chinese and
// one-word inputs (F32 and F16 weights; quantized files too where llama.cpp's binaries run). Also: the
// pooled vector does not depend on the thread count, and bad input (too long, an id outside the
// vocabulary, a llama file) is an error, not a crash.
#include "engine/model/sentence_embedder.h"
#include "engine/threads/thread_pool.h"
#include "support/paths.h"
#include "support/process.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <unistd.h>

namespace kuai::engine::model {
namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kTexts = {"hello world, this is a test of the embedding",
                                         "Which papers are required for a Schengen visa application?",
                                         "宝宝几个月可以添加辅食", "x"};

class BertModelTest : public ::testing::Test {
 protected:
  std::string synth(const std::string& type, const std::string& preset = "tiny-bert", const std::string& pooling = "mean") {
    const std::string p = (dir_ / (preset + "-" + type + "-" + pooling + ".gguf")).string();
    const auto r = test::run_shell(test::kuai_bin() + " synth --preset " + preset + " --type " + type + " --pooling " +
                                   pooling + " -o " + p);
    EXPECT_EQ(r.code, 0) << r.out;
    return p;
  }
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kuai_bert_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path dir_;
};

std::unique_ptr<SentenceEmbedder> load(const std::string& path) {
  auto e = SentenceEmbedder::load(path);
  EXPECT_TRUE(e.ok()) << e.error();
  return e.ok() ? std::move(e).value() : nullptr;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

// llama-embedding's vector for `text`; nullopt (with `why`) when the binary is absent or dies.
std::optional<std::vector<float>> llama_embedding(const std::string& model, const std::string& text, std::string& why) {
  const std::string bin = test::shared_dir() + "/tools/llama.cpp/llama-embedding";
  if (!fs::exists(bin)) {
    why = "llama.cpp's llama-embedding is not at " + bin;
    return std::nullopt;
  }
  const auto r = test::run_shell("(" + bin + " -m " + model + " -t 2 --embd-normalize 2 --embd-output-format json -p '" +
                                 text + "' 2>/dev/null)");
  if (r.code != 0) {
    why = "llama-embedding exited with " + std::to_string(r.code) + " (SIGILL: its quantized kernels need AVX-VNNI/AVX512-BF16)";
    return std::nullopt;
  }
  // {"data": [{"embedding": [x, y, …]}]}: the numbers between the first "[" after "embedding" and "]".
  std::vector<float> out;
  const size_t at = r.out.find("\"embedding\"");
  if (at == std::string::npos) {
    why = "llama-embedding printed no embedding";
    return std::nullopt;
  }
  const char* p = r.out.c_str() + r.out.find('[', at) + 1;
  for (char* end = nullptr;; p = end + 1) {
    out.push_back(std::strtof(p, &end));
    if (*end != ',') break;
  }
  return out;
}

TEST_F(BertModelTest, MatchesLlamaEmbeddingOnTheSameFile) {
  for (const auto& [type, pooling] : std::vector<std::pair<std::string, std::string>>{
           {"f32", "mean"}, {"f32", "cls"}, {"f16", "mean"}, {"q8_0", "mean"}, {"q4_0", "cls"}}) {
    SCOPED_TRACE(type + " " + pooling);
    const std::string path = synth(type, "tiny-bert", pooling);
    auto l = load(path);
    ASSERT_TRUE(l);
    ThreadPool pool(2);
    BertState st(pool);
    for (const auto& text : kTexts) {
      SCOPED_TRACE(text);
      auto ours = l->model().embed(l->tokens(text), st);
      ASSERT_TRUE(ours.ok()) << ours.error();
      ASSERT_EQ(ours->size(), 128u);
      EXPECT_NEAR(dot(*ours, *ours), 1.0, 1e-5);
      std::string why;
      auto peer = llama_embedding(path, text, why);
      if (!peer) {
        if (type == "f32") GTEST_SKIP() << why;  // the float path is the reference check
        std::cout << "[  NOTE    ] " << type << ": llama.cpp check skipped: " << why << "\n";
        break;
      }
      ASSERT_EQ(peer->size(), ours->size());
      // Same arithmetic up to summation order (and, quantized, the activations' own rounding).
      EXPECT_GT(dot(*ours, *peer), type.starts_with("f") ? 0.99999 : 0.9995);
    }
  }
}

TEST_F(BertModelTest, ClsPoolingIsTheFirstTokensVector) {
  auto mean = load(synth("f32")), cls = load(synth("f32", "tiny-bert", "cls"));
  ASSERT_TRUE(mean && cls);
  EXPECT_EQ(mean->model().hparams().pooling, Pooling::kMean);
  ASSERT_EQ(cls->model().hparams().pooling, Pooling::kCls);
  ThreadPool pool(1);
  BertState st(pool);
  const auto ids = cls->tokens(kTexts[0]);
  auto a = mean->model().embed(ids, st);
  ASSERT_TRUE(a.ok());
  // Same weights (same seed), another pooling: another vector; the CLS one is the first row of the
  // last hidden states, which the state keeps.
  auto b = cls->model().embed(ids, st);
  ASSERT_TRUE(b.ok());
  EXPECT_LT(dot(*a, *b), 0.999);
  std::vector<float> first(st.x.begin(), st.x.begin() + 128);
  double norm = 0;
  for (float v : first) norm += double(v) * v;
  for (float& v : first) v = float(v / std::sqrt(norm));
  EXPECT_GT(dot(*b, first), 0.999999);
}

TEST_F(BertModelTest, ThreadsDoNotChangeTheVector) {
  auto l = load(synth("f32"));
  ASSERT_TRUE(l);
  ThreadPool one(1), two(2);
  BertState s1(one), s2(two);
  const auto ids = l->tokens(kTexts[1]);
  auto a = l->model().embed(ids, s1), b = l->model().embed(ids, s2);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(dot(*a, *b), 0.999999);
  // Another sentence points elsewhere (random weights still separate inputs).
  auto c = l->model().embed(l->tokens(kTexts[2]), s1);
  ASSERT_TRUE(c.ok());
  EXPECT_LT(dot(*a, *c), 0.99);
}

// A batch shares the weight products (positions restart in each sequence, attention stays inside it):
// each vector is the one the sequence gets alone, whatever its neighbours, quantized weights included.
TEST_F(BertModelTest, ABatchGivesEachSequenceItsOwnVector) {
  for (const std::string type : {"f32", "q8_0"}) {
    SCOPED_TRACE(type);
    auto l = load(synth(type));
    ASSERT_TRUE(l);
    ThreadPool pool(2);
    BertState st(pool);
    std::vector<std::vector<int32_t>> ids;
    for (const auto& t : kTexts) ids.push_back(l->tokens(t));
    std::vector<std::span<const int32_t>> spans(ids.begin(), ids.end());
    auto batch = l->model().embed_batch(spans, st);
    ASSERT_TRUE(batch.ok()) << batch.error();
    ASSERT_EQ(batch->size(), kTexts.size());
    for (size_t i = 0; i < kTexts.size(); ++i) {
      auto alone = l->model().embed(ids[i], st);
      ASSERT_TRUE(alone.ok());
      EXPECT_GT(dot((*batch)[i], *alone), 0.99999) << kTexts[i];
    }
    spans.push_back({});  // one bad sequence fails the batch
    EXPECT_FALSE(l->model().embed_batch(spans, st).ok());
  }
}

TEST_F(BertModelTest, BadInputIsAnError) {
  auto l = load(synth("f32"));
  ASSERT_TRUE(l);
  const BertModel& m = l->model();
  ThreadPool pool(1);
  BertState st(pool);
  EXPECT_FALSE(m.embed(std::vector<int32_t>{}, st).ok());
  EXPECT_FALSE(m.embed(std::vector<int32_t>{101, 5000, 102}, st).ok());
  std::vector<int32_t> long_ids(129, 110);
  auto r = m.embed(long_ids, st);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().find("at most 128"), std::string::npos) << r.error();
  auto llama = BertModel::load(synth("f32", "tiny"));
  ASSERT_FALSE(llama.ok());
  EXPECT_NE(llama.error().find("not a BERT-family embedder"), std::string::npos) << llama.error();
}

}  // namespace
}  // namespace kuai::engine::model
