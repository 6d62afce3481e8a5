// `kuai cache eval --pairs FILE.jsonl [--config kuai.yaml] [--set k=v]`: see src/stages/cache_eval.h.
#include "app/verbs.h"

#include "config/config.h"
#include "config/schema.h"
#include "cache/dot.h"
#include "cache/embedder.h"
#include "cache/guards.h"
#include "cache/query_features.h"
#include "stages/cache_eval.h"
#include "app/sweep_plot.h"
#include "engine/model/sentence_embedder.h"
#include "engine/threads/thread_pool.h"
#include "tools/progress_bar.h"

#include <algorithm>
#include <cstdio>
#include <thread>
#include <tuple>

namespace kuai::app {
namespace {

// Both queries of every pair through the `local` embedder's model (engine.models.<embedder_model>, a
// BERT-family GGUF), once; the sweep reuses them. An error is a one-line message.
std::variant<stages::PairVectors, std::string> embed_pairs(const config::Config& cfg, const std::string& model,
                                                           const std::vector<stages::LabelledPair>& pairs) {
  const YAML::Node path = cfg.at("engine.models." + model);
  if (!path || !path.IsScalar())
    return "stages.cache.embedder_model '" + model + "' is not in engine.models (the local embedder's GGUF)";
  auto embedder = engine::model::SentenceEmbedder::load(path.as<std::string>());
  if (!embedder) return embedder.error();
  const auto& e = **embedder;
  engine::ThreadPool pool(int(std::clamp(std::thread::hardware_concurrency(), 1u, 8u)));
  engine::model::BertState st(pool);
  stages::PairVectors out;
  tools::ProgressBar bar("embed");
  constexpr size_t kPairsPerBatch = 32;
  for (size_t first = 0; first < pairs.size(); first += kPairsPerBatch) {
    std::vector<std::vector<int32_t>> ids;  // a0, b0, a1, b1, …
    for (size_t i = first; i < std::min(pairs.size(), first + kPairsPerBatch); ++i)
      for (const std::string* text : {&pairs[i].a, &pairs[i].b}) {
        ids.push_back(e.tokens(*text));
        ids.back().resize(std::min(ids.back().size(), size_t(e.model().hparams().n_ctx_train)));  // what the model reads
      }
    auto vs = e.embed_all(ids, st);
    if (!vs) return vs.error();
    for (size_t k = 0; k < vs->size(); ++k) (k % 2 == 0 ? out.a : out.b).push_back(std::move((*vs)[k]));
    bar(double(std::min(pairs.size(), first + kPairsPerBatch)) / double(pairs.size()));
  }
  return out;
}

void print_run(const stages::PairEvalResult& r, double min_similarity) {
  std::printf("threshold %.2f: hit rate on true paraphrases %.1f%% (%d/%d); false hits %d (%.1f%% of %d pairs)\n",
              r.threshold, 100 * r.hit_rate(), r.hits, r.same, r.false_hits, 100 * r.false_hit_rate(),
              r.same + r.different);
  std::printf("  retrieval: own question nearest %.1f%%, in the nearest 4 %.1f%%, 16 %.1f%%; median cosine %.3f\n",
              r.same ? 100.0 * r.top1 / r.same : 0.0, r.same ? 100.0 * r.top4 / r.same : 0.0,
              r.same ? 100.0 * r.top16 / r.same : 0.0, r.median_cosine);
  for (const auto& [script, hs] : r.hits_by_script)
    std::printf("  %-6s hit rate %.1f%% (%d/%d)\n", script.c_str(), hs.second ? 100.0 * hs.first / hs.second : 0.0,
                hs.first, hs.second);
  if (!r.false_hits_by_kind.empty()) {
    std::printf("  false hits by kind:");
    for (const auto& [k, n] : r.false_hits_by_kind) std::printf(" %s %d", k.c_str(), n);
    std::printf("\n");
  }
  // Each missed paraphrase by what became of its own question: not among the verified candidates, or
  // refused by a guard (the guards' share of the misses; the rest lost to a nearer candidate's words).
  std::printf("  true paraphrases missed: own question not retrieved %d", r.not_retrieved);
  if (!r.refused_by_guard.empty()) {
    std::printf("; retrieved and refused by guard:");
    for (const auto& [g, n] : r.refused_by_guard) std::printf(" %s %d", g.c_str(), n);
  }
  std::printf("\n");
  const int lookups = r.same + r.different;
  std::printf("  verifier model (stages.cache.verifier_model, grey zone from cosine %.2f): would be asked on %d of %d "
              "lookups; one always right adds up to %d hits (hit rate up to %.1f%%)\n",
              min_similarity, r.verifier_asks, lookups, r.verifier_could_hit,
              r.same ? 100.0 * (r.hits + r.verifier_could_hit) / r.same : 0.0);
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& w : v) out += (out.empty() ? "" : " ") + w;
  return "[" + out + "]";
}

void print_features(const char* label, const cache::QueryFeatures& f) {
  std::printf("%s: words %s content %s numbers %s entities %s scope %s negations %d\n", label, joined(f.words).c_str(),
              joined(f.content).c_str(), joined(f.numbers).c_str(), joined(f.entities).c_str(), joined(f.scope).c_str(),
              f.negations);
}

VerbRegistrar reg("cache", [](CLI::App& root) {
  struct Args {
    std::string pairs, config, plot;
    std::vector<std::string> sets;
    bool sweep = true, show = false;
  };
  auto a = std::make_shared<Args>();
  auto* cache = root.add_subcommand("cache", "Semantic cache tools.");
  cache->require_subcommand(1);
  auto* cmd = cache->add_subcommand(
      "eval",
      "Run labelled query pairs ({\"a\",\"b\",\"same\",\"kind\"} per line) through the semantic cache's code\n"
      "offline: every a is stored, then every b looked up. Prints the hit rate on true paraphrases, false hits\n"
      "by kind, refusals by guard, and a sweep over guards.content_min_coverage.");
  auto* explain = cache->add_subcommand("explain", "Show what the cache sees in two queries and whether a cached answer\n"
                                                   "to the first would serve the second (features, cosine, guard).");
  auto queries = std::make_shared<std::vector<std::string>>();
  explain->add_option("queries", *queries, "the cached query, then the new one")->required()->expected(2);
  explain->callback([queries] {
    const auto fa = cache::query_features((*queries)[0]), fb = cache::query_features((*queries)[1]);
    print_features("cached", fa);
    print_features("new   ", fb);
    cache::HashEmbedder e(stages::CacheStageConfig{}.hash_dim);
    std::vector<float> va, vb;
    e.embed_sync((*queries)[0], fa, va);
    e.embed_sync((*queries)[1], fb, vb);
    const double cos = cache::dot_f32(va.data(), vb.data(), std::min(va.size(), vb.size()));
    double agreement = 0;
    auto g = cache::check_guards(fa, fb, cache::GuardConfig{}, &agreement);
    if (g == cache::Guard::None)
      std::printf("cosine %.3f; guards: pass (agreement %.2f)\n", cos, agreement);
    else
      std::printf("cosine %.3f; guards: refused by %s\n", cos, std::string(cache::guard_name(g)).c_str());
    // Each content word's match in the other query (1 the same word, below 1 a related one, 0 none):
    // what the content guard's coverage is made of.
    for (const auto& [label, from, to] : {std::tuple{"cached -> new", &fa, &fb}, std::tuple{"new -> cached", &fb, &fa}}) {
      std::printf("words %s:", label);
      for (const auto& [w, m] : cache::content_matches(*from, *to)) std::printf(" %s=%.2f", w.c_str(), m);
      std::printf("\n");
    }
    const stages::CacheStageConfig defaults;
    if (g == cache::Guard::Content && cos >= defaults.store.threshold && cos >= defaults.verifier.min_similarity)
      std::printf("grey zone: with stages.cache.verifier_model set, that model would decide (only the content guard refused)\n");
    set_exit_code(0);
  });
  cmd->add_option("--pairs", a->pairs, "JSONL file of labelled pairs")->required();
  cmd->add_option("--config,-c", a->config, "YAML config whose stages.cache is evaluated (docs/CONFIG.md)");
  cmd->add_option("--set", a->sets, "override a config key: a.b.c=value (repeatable)");
  cmd->add_flag("!--no-sweep", a->sweep, "only the configured threshold, no sweep");
  cmd->add_flag("--show", a->show, "list every missed paraphrase and false hit (at the configured threshold)");
  cmd->add_option("--plot", a->plot, "also write the sweep as a PNG chart (hit rate and false hits against the coverage)");
  cmd->callback([a] {
    if (!a->plot.empty() && !a->sweep)
      return set_exit_code(fail("cache eval", "--plot draws the sweep", "drop --no-sweep"));
    config::Config cfg;
    if (!a->config.empty())
      if (auto err = config::Config::load_file(a->config, cfg)) return set_exit_code(fail("cache eval", *err, "check the path and the YAML syntax"));
    for (const auto& s : a->sets)
      if (auto err = cfg.apply_override(s)) return set_exit_code(fail("cache eval", *err, "use --set a.b.c=value"));
    if (auto err = config::validate(cfg))
      return set_exit_code(fail("cache eval", "config: " + *err, "see docs/CONFIG.md for every key and its default"));
    stages::CacheStageConfig cc;
    YAML::Node node = cfg.at("stages.cache");
    if (auto err = stages::read_cache_config(node ? node : YAML::Node(YAML::NodeType::Map), cc))
      return set_exit_code(fail("cache eval", *err, "see docs/CONFIG.md, section Semantic cache"));
    if (cc.embedder == "remote")
      return set_exit_code(fail("cache eval", "embedder 'remote' needs a running model",
                                "evaluate embedder: hash or local (a BERT-family GGUF in engine.models), or judge through a gateway"));
    auto loaded = stages::read_labelled_pairs(a->pairs);
    if (auto* err = std::get_if<std::string>(&loaded)) return set_exit_code(fail("cache eval", *err, "one JSON object per line"));
    const auto& pairs = std::get<std::vector<stages::LabelledPair>>(loaded);
    std::optional<stages::PairVectors> vectors;
    if (cc.embedder == "local") {
      auto v = embed_pairs(cfg, cc.embedder_model, pairs);
      if (auto* err = std::get_if<std::string>(&v))
        return set_exit_code(fail("cache eval", *err, "the local embedder must be a BERT-family GGUF (kuai embed -m FILE checks one)"));
      vectors = std::move(std::get<stages::PairVectors>(v));
    }
    const stages::PairVectors* vecs = vectors ? &*vectors : nullptr;
    auto run = stages::evaluate_pairs(pairs, cc, vecs);
    print_run(run, cc.verifier.min_similarity);
    if (a->show)
      for (const auto& w : run.wrong)
        std::printf("  [%s%s] %s | %s  (nearest %.3f%s%s)\n", w.outcome.c_str(),
                    w.pair->same ? "" : (", " + w.pair->kind).c_str(), w.pair->a.c_str(), w.pair->b.c_str(), w.similarity,
                    w.served.empty() ? "" : "; served: ", w.served.c_str());
    if (!vecs)
      std::printf("target (built-in path): hit rate >= 50%% and false hits <= 1%% -> %s\n",
                  run.hit_rate() >= 0.5 && run.false_hit_rate() <= 0.01 ? "met" : "NOT met");
    if (a->sweep) {
      // The guards decide (retrieval is recall-oriented), so the knob that trades hits for false hits
      // is how much of each other's content two queries must say; with a model embedder, also the
      // cosine at which its similarity replaces that check (embedder_trust).
      const char* knob = vecs ? "embedder_trust" : "guards.content_min_coverage";
      std::printf("\nsweep:  %27s  hit rate  false hits\n", knob);
      std::vector<double> xs;
      PlotSeries hits{{30, 100, 200}, {}}, false_hits{{220, 50, 40}, {}};
      for (int t = vecs ? 50 : 40; t <= (vecs ? 100 : 90); t += 5) {
        stages::CacheStageConfig at = cc;
        double& x = vecs ? at.store.guards.content_trusted_similarity : at.store.guards.content_min_coverage;
        x = t / 100.0;
        auto r = stages::evaluate_pairs(pairs, at, vecs);
        std::printf("        %27.2f  %7.1f%%  %4d (%.1f%%)\n", x, 100 * r.hit_rate(), r.false_hits, 100 * r.false_hit_rate());
        xs.push_back(x);
        hits.y.push_back(100 * r.hit_rate());
        false_hits.y.push_back(100 * r.false_hit_rate());
      }
      if (!a->plot.empty()) {
        const std::string png = encode_png(draw_sweep(xs, {hits, false_hits}));
        std::FILE* f = std::fopen(a->plot.c_str(), "wb");
        if (!f || std::fwrite(png.data(), 1, png.size(), f) != png.size() || std::fclose(f) != 0)
          return set_exit_code(fail("cache eval", "cannot write '" + a->plot + "'", "check the directory exists and is writable"));
        std::printf("plot: %s (x: %s; blue: hit rate on true paraphrases; red: false hits, %% of all pairs)\n",
                    a->plot.c_str(), knob);
      }
    }
    set_exit_code(0);
  });
});

}  // namespace
}  // namespace kuai::app
