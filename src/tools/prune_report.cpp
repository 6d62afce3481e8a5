// The terminal and JSON reports of `kuai prune` (declared in prune.h).
#include <algorithm>
#include <boost/json.hpp>
#include <cstdio>
#include <set>

#include "tools/prune.h"

namespace kuai::tools {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

int angular_n(const PruneResult& r) {
  const int n = r.spec.drop_layers > 0 ? r.spec.drop_layers : int(r.spec.drop_layer_ids.size());
  return std::clamp(n, 1, r.hparams.n_layer);
}

const std::vector<double>& group_scores(const PruneResult& r) { return group_scores(*r.importance, r.spec.width_metric); }
const std::vector<double>& channel_scores(const PruneResult& r) { return channel_scores(*r.importance, r.spec.width_metric); }
const char* width_metric_name(const PruneResult& r) { return width_metric_name(r.spec.width_metric); }
const char* layer_metric_name(const PruneResult& r) {
  return r.spec.layer_metric == LayerMetric::kAngular ? "angular" : "block-influence";
}

std::string ratio(double after, double before) { return before > 0 && after > 0 ? fmt("%.3fx", after / before) : "n/a"; }

}  // namespace

std::string prune_report_text(const PruneResult& r, bool with_importance) {
  const auto& h = r.hparams;
  const Importance& imp = *r.importance;
  const std::set<int> kept(r.plan.layers.begin(), r.plan.layers.end());
  const int an = angular_n(r);
  std::string s;
  if (with_importance) {
  s += "importance on " + std::to_string(imp.n_tokens) + " calibration tokens (layers: " +
                  layer_metric_name(r) + ", width: " + width_metric_name(r) + ")\n";
  s += "layer  block_influence  angular(n=" + std::to_string(an) + ")  kept\n";
  for (int l = 0; l < h.n_layer; ++l) {
    const std::string ang = l + an <= h.n_layer ? fmt("%12.5f", imp.angular_distance(l, an)) : std::string(12, ' ');
    s += fmt("%5.0f", l) + fmt("  %15.5f", imp.block_influence(l)) + "  " + ang + "  " + (kept.count(l) ? "yes" : "no") + "\n";
  }
  s += "KV groups (" + std::to_string(h.n_head / h.n_head_kv) + " query heads each; * kept):\n";
  for (size_t i = 0; i < r.plan.layers.size(); ++i) {
    const int l = r.plan.layers[i];
    const std::set<int> g(r.plan.groups[i].begin(), r.plan.groups[i].end());
    s += "  layer " + std::to_string(l) + ":";
    for (int k = 0; k < h.n_head_kv; ++k)
      s += fmt(" %.4g", group_scores(r)[size_t(l) * size_t(h.n_head_kv) + size_t(k)]) + (g.count(k) ? "*" : "");
    s += "\n";
  }
  s += "FFN channels (min / median / max; lowest kept):\n";
  for (size_t i = 0; i < r.plan.layers.size(); ++i) {
    const int l = r.plan.layers[i];
    const double* c = channel_scores(r).data() + size_t(l) * size_t(h.n_ff);
    std::vector<double> v(c, c + h.n_ff);
    std::sort(v.begin(), v.end());
    double lowest_kept = 1e300;
    for (int ch : r.plan.channels[i]) lowest_kept = std::min(lowest_kept, c[ch]);
    s += "  layer " + std::to_string(l) + ":" + fmt(" %.4g", v.front()) + fmt(" / %.4g", v[v.size() / 2]) +
         fmt(" / %.4g", v.back()) + fmt("; %.4g", lowest_kept) + "\n";
  }
  }
  s += "plan: " + std::to_string(r.plan.layers.size()) + " of " + std::to_string(h.n_layer) + " layers, " +
       std::to_string(r.plan.n_groups()) + " of " + std::to_string(h.n_head_kv) + " KV groups, " +
       std::to_string(r.plan.n_channels()) + " of " + std::to_string(h.n_ff) + " FFN channels per layer\n";
  for (const auto& f : r.rewrite.fallbacks) s += "fallback: " + f + "\n";
  if (!r.written) return s;
  auto row = [&](const char* name, const std::string& b, const std::string& a, const std::string& ra) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "%-18s %14s %14s %10s\n", name, b.c_str(), a.c_str(), ra.c_str());
    s += buf;
  };
  row("", "original", "pruned", "ratio");
  row("parameters", std::to_string(r.before.params), std::to_string(r.after.params),
      ratio(double(r.after.params), double(r.before.params)));
  row("file bytes", std::to_string(r.before.file_bytes), std::to_string(r.after.file_bytes),
      ratio(double(r.after.file_bytes), double(r.before.file_bytes)));
  auto ppl = [](const std::optional<double>& p) { return p ? fmt("%.4f", *p) : std::string("n/a"); };
  row("perplexity", ppl(r.before.perplexity), ppl(r.after.perplexity),
      r.before.perplexity && r.after.perplexity ? ratio(*r.after.perplexity, *r.before.perplexity) : "n/a");
  if (r.healed) {
    row("perplexity healed", "", ppl(r.healed->perplexity),
        r.before.perplexity && r.healed->perplexity ? ratio(*r.healed->perplexity, *r.before.perplexity) : "n/a");
    row("healed file bytes", "", std::to_string(r.healed->file_bytes),
        ratio(double(r.healed->file_bytes), double(r.before.file_bytes)));
  } else {
    row("perplexity healed", "", "n/a", "n/a");
  }
  const ModelFigures& out = r.output();
  auto tps = [](double v) { return v > 0 ? fmt("%.1f", v) : std::string("n/a"); };
  row("prompt tok/s", tps(r.before.prompt_tps), tps(out.prompt_tps), ratio(out.prompt_tps, r.before.prompt_tps));
  row("decode tok/s", tps(r.before.decode_tps), tps(out.decode_tps), ratio(out.decode_tps, r.before.decode_tps));
  if (r.healed)
    s += fmt("healing: %.0f steps", r.heal.steps) + fmt(" on %.0f tokens of data", double(r.heal.data_tokens)) +
         fmt(", loss %.4f", r.heal.first_loss) + fmt(" -> %.4f", r.heal.last_loss) +
         fmt(", %.1f s", r.heal.seconds) + fmt(" (%.0f tokens/s)\n", r.heal.tokens_per_s);
  return s;
}

std::string prune_report_json(const PruneResult& r) {
  namespace json = boost::json;
  const auto& h = r.hparams;
  const Importance& imp = *r.importance;
  json::object o;
  o["calibration_tokens"] = imp.n_tokens;
  o["layer_metric"] = layer_metric_name(r);
  o["width_metric"] = width_metric_name(r);
  json::array layers;
  const int an = angular_n(r);
  for (int l = 0; l < h.n_layer; ++l) {
    json::object e{{"layer", l}, {"block_influence", imp.block_influence(l)}};
    if (l + an <= h.n_layer) e["angular_distance"] = imp.angular_distance(l, an);
    e["kept"] = std::find(r.plan.layers.begin(), r.plan.layers.end(), l) != r.plan.layers.end();
    layers.push_back(std::move(e));
  }
  o["angular_n"] = an;
  o["layers"] = std::move(layers);
  json::array groups, channels;
  for (size_t i = 0; i < r.plan.layers.size(); ++i) {
    const int l = r.plan.layers[i];
    json::array scores;
    for (int k = 0; k < h.n_head_kv; ++k) scores.push_back(group_scores(r)[size_t(l) * size_t(h.n_head_kv) + size_t(k)]);
    groups.push_back(json::object{{"layer", l}, {"scores", std::move(scores)},
                                  {"kept", json::value_from(r.plan.groups[i])}});
    channels.push_back(json::object{{"layer", l}, {"kept", json::value_from(r.plan.channels[i])}});
  }
  o["kv_groups"] = std::move(groups);
  o["ffn_channels"] = std::move(channels);
  o["plan"] = json::object{{"layers", json::value_from(r.plan.layers)},
                           {"kv_groups", r.plan.n_groups()},
                           {"ffn_channels", r.plan.n_channels()},
                           {"fallbacks", json::value_from(r.rewrite.fallbacks)}};
  if (r.written) {
    auto fig = [](const ModelFigures& f) {
      json::object e{{"params", f.params}, {"file_bytes", f.file_bytes}};
      e["perplexity"] = f.perplexity ? json::value(*f.perplexity) : json::value(nullptr);
      e["prompt_tokens_per_s"] = f.prompt_tps > 0 ? json::value(f.prompt_tps) : json::value(nullptr);
      e["decode_tokens_per_s"] = f.decode_tps > 0 ? json::value(f.decode_tps) : json::value(nullptr);
      return e;
    };
    o["original"] = fig(r.before);
    o["pruned"] = fig(r.after);
    if (r.healed) {
      json::object e = fig(*r.healed);
      e["steps"] = r.heal.steps;
      e["data_tokens"] = r.heal.data_tokens;
      e["first_loss"] = r.heal.first_loss;
      e["last_loss"] = r.heal.last_loss;
      e["seconds"] = r.heal.seconds;
      o["healed"] = std::move(e);
    } else {
      o["healed"] = nullptr;
    }
  }
  return json::serialize(o);
}

}  // namespace kuai::tools
