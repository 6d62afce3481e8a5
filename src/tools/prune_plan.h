// What `kuai prune` keeps: which layers, and in every kept layer which KV groups (a KV head with the
// query heads that share it) and which FFN channels. The same count is removed from every layer so the
// result is a standard llama / qwen2 GGUF. Choices follow the importance measures (prune_importance.h); ties go
// to the lower index, so a plan is deterministic.
#pragma once

#include <string>
#include <vector>

#include "engine/gguf/result.h"
#include "engine/model/hparams.h"

namespace kuai::tools {

struct Importance;

enum class LayerMetric { kBlockInfluence, kAngular };  // ShortGPT's BI | angular distance over n blocks
enum class WidthMetric { kActivation, kFluctuation, kTaylor };  // Wanda-style |W|*||X|| | FLAP's | |w*dL/dw|

struct PruneSpec {
  int drop_layers = 0;               // how many layers go, chosen by layer_metric
  std::vector<int> drop_layer_ids;   // or exactly these (then drop_layers is 0)
  double heads_keep = 1.0;           // fraction of KV groups kept per layer, (0, 1]
  double ffn_keep = 1.0;             // fraction of FFN channels kept per layer, (0, 1]
  int ffn_multiple = 1;              // kept FFN channels rounded to a multiple of this (quantized rows)
  LayerMetric layer_metric = LayerMetric::kBlockInfluence;
  WidthMetric width_metric = WidthMetric::kActivation;
};

struct PrunePlan {
  std::vector<int> layers;                 // kept original layer indices, ascending
  std::vector<std::vector<int>> groups;    // per kept layer: kept KV groups, ascending
  std::vector<std::vector<int>> channels;  // per kept layer: kept FFN channels, ascending
  int n_groups() const { return groups.empty() ? 0 : int(groups[0].size()); }
  int n_channels() const { return channels.empty() ? 0 : int(channels[0].size()); }
};

// Checks a spec against a model's shape: keep ratios in (0, 1], layers to drop fewer than the model has
// and in range, at least one KV group and one channel left. The message is one line.
engine::Status check_prune_spec(const engine::model::Hparams& h, const PruneSpec& spec);

// KV groups and FFN channels kept per layer under a spec.
int kept_groups(const engine::model::Hparams& h, const PruneSpec& spec);
int kept_channels(const engine::model::Hparams& h, const PruneSpec& spec);

// The indices covered by kept blocks of `width` (block b: [b * width, (b + 1) * width)), in order:
// the rows of a KV group's heads, the columns an FFN channel is (width 1).
std::vector<int64_t> block_indices(const std::vector<int>& blocks, int64_t width);

// The plan. imp may be null only when nothing is chosen by importance (no drop count, keeps of 1).
engine::Result<PrunePlan> plan_prune(const engine::model::Hparams& h, const Importance* imp, const PruneSpec& spec);

// Parses "block-influence", "angular", "activation", "fluctuation", "taylor" into the spec's metrics;
// false if unknown.
bool set_prune_metric(const std::string& name, PruneSpec& spec);
// The (layer, group) and (layer, channel) scores of a width metric, and its name.
const std::vector<double>& group_scores(const Importance& imp, WidthMetric metric);
const std::vector<double>& channel_scores(const Importance& imp, WidthMetric metric);
const char* width_metric_name(WidthMetric metric);

}  // namespace kuai::tools
