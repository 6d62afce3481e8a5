// llama.cpp's tokenizer test vectors (../shared/tokenizer-tests): NAME.inp holds the inputs separated by
// "\n__ggml_vocab_test__\n", NAME.out one line of space-separated token ids per input (encoded with
// add_special=false, parse_special=false).
#pragma once

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace kuai::test {

inline std::string read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> read_vector_inputs(const std::string& inp_path) {
  const std::string all = read_file_bytes(inp_path);
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t pos = all.find(sep); pos != std::string::npos; pos = all.find(sep, start)) {
    out.push_back(all.substr(start, pos - start));
    start = pos + sep.size();
  }
  return out;
}

inline std::vector<std::vector<int32_t>> read_vector_outputs(const std::string& out_path) {
  std::ifstream in(out_path);
  std::vector<std::vector<int32_t>> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::vector<int32_t> ids;
    int32_t id;
    while (ls >> id) ids.push_back(id);
    out.push_back(std::move(ids));
  }
  return out;
}

struct TokenizerVector {
  std::string input;
  std::vector<int32_t> ids;
};

// BASE.inp and BASE.out paired; empty when either is missing or their counts differ.
inline std::vector<TokenizerVector> read_vectors(const std::string& base) {
  auto inputs = read_vector_inputs(base + ".inp");
  auto outputs = read_vector_outputs(base + ".out");
  std::vector<TokenizerVector> out;
  if (inputs.size() != outputs.size()) return out;
  for (size_t i = 0; i < inputs.size(); ++i) out.push_back({std::move(inputs[i]), std::move(outputs[i])});
  return out;
}

inline std::string join_ids(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t id : ids) s += " " + std::to_string(id);
  return s;
}

}  // namespace kuai::test
