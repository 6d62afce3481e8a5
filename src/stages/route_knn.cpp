#include "stages/route_knn.h"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <utility>

namespace kuai::stages::route {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::variant<std::vector<LabelledExample>, std::string> load_jsonl(const std::string& path, std::istream& in) {
  std::vector<LabelledExample> out;
  std::string line;
  int line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    size_t first = line.find_first_not_of(" \t\r");
    if (first == std::string::npos || line[first] == '#') continue;
    boost::system::error_code ec;
    boost::json::value v = boost::json::parse(line, ec);
    const std::string where = path + ":" + std::to_string(line_no);
    if (ec) return where + ": not JSON (" + ec.message() + ")";
    if (!v.is_object()) return where + ": expected an object {\"text\", \"intent\"}";
    const auto& o = v.as_object();
    const auto* text = o.if_contains("text");
    const auto* intent = o.if_contains("intent");
    if (!text || !text->is_string() || !intent || !intent->is_string())
      return where + ": needs string fields \"text\" and \"intent\"";
    out.push_back({std::string(text->as_string()), std::string(intent->as_string())});
  }
  return out;
}

std::variant<std::vector<LabelledExample>, std::string> load_yaml(const std::string& path) {
  std::vector<LabelledExample> out;
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return path + ": " + e.what();
  }
  try {
    if (root.IsSequence()) {
      for (const auto& item : root) {
        if (!item.IsMap() || !item["text"] || !item["intent"]) return path + ": each item needs text and intent";
        out.push_back({item["text"].as<std::string>(), item["intent"].as<std::string>()});
      }
    } else if (root.IsMap()) {
      for (const auto& kv : root) {
        std::string intent = kv.first.as<std::string>();
        if (!kv.second.IsSequence()) return path + ": " + intent + " must list texts";
        for (const auto& t : kv.second) out.push_back({t.as<std::string>(), intent});
      }
    } else if (!root.IsNull()) {
      return path + ": expected a list of {text, intent} or a map intent → [texts]";
    }
  } catch (const YAML::Exception& e) {
    return path + ": " + e.what();
  }
  return out;
}

}  // namespace

std::variant<std::vector<LabelledExample>, std::string> load_examples(const std::string& path) {
  if (ends_with(path, ".yaml") || ends_with(path, ".yml")) return load_yaml(path);
  std::ifstream in(path);
  if (!in) return "cannot open examples file '" + path + "'";
  return load_jsonl(path, in);
}

void KnnIndex::add(std::string intent, std::vector<float> embedding) {
  if (embedding.empty() || (dim_ != 0 && embedding.size() != dim_)) {
    ++skipped_;
    return;
  }
  double norm = 0;
  for (float f : embedding) norm += static_cast<double>(f) * f;
  if (norm <= 0 || !std::isfinite(norm)) {
    ++skipped_;
    return;
  }
  dim_ = embedding.size();
  const float inv = static_cast<float>(1.0 / std::sqrt(norm));
  for (float f : embedding) vectors_.push_back(f * inv);
  intents_.push_back(std::move(intent));
}

std::optional<IntentGuess> KnnIndex::classify(const std::vector<float>& query) const {
  if (intents_.empty() || query.size() != dim_) return std::nullopt;
  double qnorm = 0;
  for (float f : query) qnorm += static_cast<double>(f) * f;
  if (qnorm <= 0 || !std::isfinite(qnorm)) return std::nullopt;
  const double qinv = 1.0 / std::sqrt(qnorm);

  std::vector<std::pair<double, size_t>> sims(intents_.size());
  for (size_t i = 0; i < intents_.size(); ++i) {
    const float* row = vectors_.data() + i * dim_;
    double dot = 0;
    for (size_t d = 0; d < dim_; ++d) dot += static_cast<double>(row[d]) * query[d];
    sims[i] = {dot * qinv, i};
  }
  const size_t k = std::min(k_, sims.size());
  std::partial_sort(sims.begin(), sims.begin() + static_cast<std::ptrdiff_t>(k), sims.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  if (sims.front().first < min_similarity_) return std::nullopt;

  std::map<std::string_view, double> votes;
  double total = 0;
  for (size_t i = 0; i < k; ++i) {
    double w = std::max(sims[i].first, 0.0);
    votes[intents_[sims[i].second]] += w;
    total += w;
  }
  if (total <= 0) return std::nullopt;
  // The winner: most weight; ties go to the intent of the single nearest example.
  std::string_view best = intents_[sims.front().second];
  double best_w = votes[best];
  for (const auto& [intent, w] : votes) {
    if (w > best_w) {
      best = intent;
      best_w = w;
    }
  }
  return IntentGuess{std::string(best), best_w / total};
}

}  // namespace kuai::stages::route
