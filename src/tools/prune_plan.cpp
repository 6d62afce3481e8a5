#include "tools/prune_plan.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include "tools/prune_importance.h"

namespace kuai::tools {

using engine::model::Hparams;

namespace {

// Indices of the `keep` highest scores among scores[0, n), ascending (ties: the lower index stays).
std::vector<int> top_indices(const double* scores, int n, int keep) {
  std::vector<int> idx(static_cast<size_t>(n));
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return scores[a] > scores[b]; });
  idx.resize(size_t(keep));
  std::sort(idx.begin(), idx.end());
  return idx;
}

std::vector<int> all_indices(int n) {
  std::vector<int> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

bool needs_importance(const Hparams& h, const PruneSpec& spec) {
  return spec.drop_layers > 0 || kept_groups(h, spec) < h.n_head_kv || kept_channels(h, spec) < h.n_ff;
}

}  // namespace

int kept_groups(const Hparams& h, const PruneSpec& spec) {
  return std::clamp(int(std::lround(h.n_head_kv * spec.heads_keep)), 1, h.n_head_kv);
}

int kept_channels(const Hparams& h, const PruneSpec& spec) {
  const int m = std::max(1, spec.ffn_multiple);
  int keep = int(std::lround(h.n_ff * spec.ffn_keep));
  if (keep < h.n_ff) keep = int(std::lround(double(keep) / m)) * m;
  return std::clamp(keep, std::min(m, h.n_ff), h.n_ff);
}

std::vector<int64_t> block_indices(const std::vector<int>& blocks, int64_t width) {
  std::vector<int64_t> r;
  for (int b : blocks)
    for (int64_t i = 0; i < width; ++i) r.push_back(int64_t(b) * width + i);
  return r;
}

engine::Status check_prune_spec(const Hparams& h, const PruneSpec& spec) {
  if (h.arch != engine::model::Arch::kLlama && h.arch != engine::model::Arch::kQwen2)
    return engine::make_error("prune supports llama and qwen2 files only; this one is '" + h.arch_name + "'");
  auto ratio_ok = [](double r) { return r > 0.0 && r <= 1.0; };
  if (!ratio_ok(spec.heads_keep))
    return engine::make_error("--heads-keep must be in (0, 1]; got " + std::to_string(spec.heads_keep));
  // llama.cpp's qwen2 loader sizes attn_q as n_embd x n_embd (it ignores key_length): a qwen2 file with
  // fewer heads would load in kuai and nowhere else.
  if (h.arch == engine::model::Arch::kQwen2 && kept_groups(h, spec) < h.n_head_kv)
    return engine::make_error("--heads-keep: a qwen2 file keeps all its heads (llama.cpp's qwen2 loader needs "
                              "n_head x head_dim = n_embd); prune its layers and FFN channels");
  if (!ratio_ok(spec.ffn_keep))
    return engine::make_error("--ffn-keep must be in (0, 1]; got " + std::to_string(spec.ffn_keep));
  if (spec.drop_layers < 0) return engine::make_error("--drop-layers must not be negative");
  if (spec.drop_layers >= h.n_layer)
    return engine::make_error("--drop-layers " + std::to_string(spec.drop_layers) + ": the model has " +
                              std::to_string(h.n_layer) + " layers and at least one must stay");
  std::set<int> ids;
  for (int id : spec.drop_layer_ids) {
    if (id < 0 || id >= h.n_layer)
      return engine::make_error("--drop-layers: layer " + std::to_string(id) + " does not exist (the model has layers 0.." +
                                std::to_string(h.n_layer - 1) + ")");
    if (!ids.insert(id).second) return engine::make_error("--drop-layers: layer " + std::to_string(id) + " given twice");
  }
  if (int(ids.size()) >= h.n_layer)
    return engine::make_error("--drop-layers: all " + std::to_string(h.n_layer) + " layers named; at least one must stay");
  if (h.n_head_kv * spec.heads_keep < 0.5)
    return engine::make_error("--heads-keep " + std::to_string(spec.heads_keep) + " keeps no KV group of " +
                              std::to_string(h.n_head_kv));
  if (h.n_ff * spec.ffn_keep < 0.5)
    return engine::make_error("--ffn-keep " + std::to_string(spec.ffn_keep) + " keeps no FFN channel of " +
                              std::to_string(h.n_ff));
  return engine::Ok{};
}

engine::Result<PrunePlan> plan_prune(const Hparams& h, const Importance* imp, const PruneSpec& spec) {
  if (auto s = check_prune_spec(h, spec); !s) return std::move(s).take_error();
  if (needs_importance(h, spec) && !imp) return engine::make_error("pruning by importance needs calibration text");
  if (imp && (imp->n_layer != h.n_layer || imp->n_head_kv != h.n_head_kv || imp->n_ff != h.n_ff))
    return engine::make_error("the importance measures are of a model of another shape");

  std::set<int> drop(spec.drop_layer_ids.begin(), spec.drop_layer_ids.end());
  if (spec.drop_layers > 0) {
    const int n = spec.drop_layers;
    if (spec.layer_metric == LayerMetric::kBlockInfluence) {
      std::vector<double> bi(static_cast<size_t>(h.n_layer));
      for (int l = 0; l < h.n_layer; ++l) bi[size_t(l)] = -imp->block_influence(l);  // keep the highest BI
      for (int l : top_indices(bi.data(), h.n_layer, n)) drop.insert(l);
    } else {
      int best = 0;
      for (int s = 1; s + n <= h.n_layer; ++s)
        if (imp->angular_distance(s, n) < imp->angular_distance(best, n)) best = s;
      for (int l = best; l < best + n; ++l) drop.insert(l);
    }
  }
  PrunePlan plan;
  const int n_groups = kept_groups(h, spec), n_channels = kept_channels(h, spec);
  for (int l = 0; l < h.n_layer; ++l) {
    if (drop.count(l)) continue;
    plan.layers.push_back(l);
    if (n_groups < h.n_head_kv) {
      const auto& g = group_scores(*imp, spec.width_metric);
      plan.groups.push_back(top_indices(g.data() + size_t(l) * size_t(h.n_head_kv), h.n_head_kv, n_groups));
    } else {
      plan.groups.push_back(all_indices(h.n_head_kv));
    }
    if (n_channels < h.n_ff) {
      const auto& c = channel_scores(*imp, spec.width_metric);
      plan.channels.push_back(top_indices(c.data() + size_t(l) * size_t(h.n_ff), h.n_ff, n_channels));
    } else {
      plan.channels.push_back(all_indices(h.n_ff));
    }
  }
  return plan;
}

bool set_prune_metric(const std::string& name, PruneSpec& spec) {
  if (name == "block-influence") spec.layer_metric = LayerMetric::kBlockInfluence;
  else if (name == "angular") spec.layer_metric = LayerMetric::kAngular;
  else if (name == "activation") spec.width_metric = WidthMetric::kActivation;
  else if (name == "fluctuation") spec.width_metric = WidthMetric::kFluctuation;
  else if (name == "taylor") spec.width_metric = WidthMetric::kTaylor;
  else return false;
  return true;
}

const std::vector<double>& group_scores(const Importance& imp, WidthMetric metric) {
  switch (metric) {
    case WidthMetric::kFluctuation: return imp.group_fluctuation;
    case WidthMetric::kTaylor: return imp.group_taylor;
    default: return imp.group_activation;
  }
}

const std::vector<double>& channel_scores(const Importance& imp, WidthMetric metric) {
  switch (metric) {
    case WidthMetric::kFluctuation: return imp.channel_fluctuation;
    case WidthMetric::kTaylor: return imp.channel_taylor;
    default: return imp.channel_activation;
  }
}

const char* width_metric_name(WidthMetric metric) {
  switch (metric) {
    case WidthMetric::kFluctuation: return "fluctuation";
    case WidthMetric::kTaylor: return "taylor";
    default: return "activation";
  }
}

}  // namespace kuai::tools
