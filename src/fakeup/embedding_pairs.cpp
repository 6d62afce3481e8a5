#include "fakeup/embedding_pairs.h"

#include "fakeup/random.h"

#include <boost/json.hpp>

#include <cmath>
#include <fstream>

namespace kuai::fakeup {

std::optional<std::string> load_embedding_pairs(const std::string& path, EmbeddingPairs& out) {
  std::ifstream in(path);
  if (!in) return "cannot read '" + path + "'";
  std::string line;
  for (uint64_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    boost::system::error_code ec;
    const auto v = boost::json::parse(line, ec);
    const auto* o = ec ? nullptr : v.if_object();
    const auto* a = o ? o->if_contains("a") : nullptr;
    const auto* b = o ? o->if_contains("b") : nullptr;
    const auto* same = o ? o->if_contains("same") : nullptr;
    if (!a || !a->is_string() || !b || !b->is_string() || !same || !same->is_bool())
      return path + " line " + std::to_string(n) + ": expected {\"a\": text, \"b\": text, \"same\": true|false}";
    out[std::string(a->get_string())] = EmbeddingPlace{n, 1.0};
    out[std::string(b->get_string())] = EmbeddingPlace{n, same->get_bool() ? 0.95 : 0.92};
  }
  return std::nullopt;
}

std::vector<double> pair_embedding(const EmbeddingPlace& place, int dim, uint64_t seed) {
  const uint64_t s = seed * 0x9E3779B97F4A7C15ull ^ (place.pair * 0xD1B54A32D192ED03ull);
  std::vector<double> a = random_unit_vector(s, dim);
  if (place.cosine >= 1) return a;
  // cos · a + sin · (a unit vector orthogonal to a)
  std::vector<double> o = random_unit_vector(s ^ 0x5DEECE66Dull, dim);
  double along = 0, norm = 0;
  for (int i = 0; i < dim; ++i) along += o[size_t(i)] * a[size_t(i)];
  for (int i = 0; i < dim; ++i) norm += (o[size_t(i)] -= along * a[size_t(i)]) * o[size_t(i)];
  const double sin = std::sqrt(1 - place.cosine * place.cosine), inv = norm > 0 ? 1 / std::sqrt(norm) : 0;
  for (int i = 0; i < dim; ++i) a[size_t(i)] = place.cosine * a[size_t(i)] + sin * o[size_t(i)] * inv;
  return a;
}

}  // namespace kuai::fakeup
