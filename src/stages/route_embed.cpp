// The route stage's embedder: the semantic cache's HashEmbedder (no model; cache/embedder.h), used
// synchronously — examples are embedded once at start-up, each query once per request (~10 µs).
// Model-backed embedders ("remote"/"local") would need a suspending call per request and an async
// start-up; they are not offered here (see docs/ARCHITECTURE.md, "route").
#include "stages/route.h"

#include "cache/embedder.h"
#include "cache/query_features.h"

#include <memory>

namespace kuai::stages {

RouteEmbedFn make_route_embedder(const std::string& kind, std::string& error) {
  if (kind != "hash") {
    error = "stages.route.embedder: only 'hash' is supported, not '" + kind + "'";
    return {};
  }
  auto embedder = std::make_shared<cache::HashEmbedder>();
  return [embedder](std::string_view text) {
    std::vector<float> out;
    if (!embedder->embed_sync(text, cache::query_features(text), out)) out.clear();
    return out;
  };
}

}  // namespace kuai::stages
