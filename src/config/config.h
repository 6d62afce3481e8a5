// kuai's configuration: one YAML tree (file, then `--set a.b.c=value` overrides), read by dotted
// paths with typed defaults. Every key is documented in docs/CONFIG.md with its default.
// Thread-safety: built once at start-up, then read-only.
#pragma once

#include <yaml-cpp/yaml.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kuai::config {

class Config {
 public:
  Config() : root_(YAML::NodeType::Map) {}
  explicit Config(YAML::Node root) : root_(std::move(root)) {}

  // Errors (unreadable file, bad YAML, bad override) are returned as a message, never thrown.
  static std::optional<std::string> load_file(const std::string& path, Config& out);
  static std::optional<std::string> load_string(const std::string& yaml, Config& out);
  // "a.b.c=value": value is parsed as YAML (numbers, booleans, [lists], {maps}).
  std::optional<std::string> apply_override(std::string_view assignment);
  void set(std::string_view dotted_path, const YAML::Node& value);

  // The node at a dotted path ("stages.cache"), or an undefined node.
  YAML::Node at(std::string_view dotted_path) const;
  template <typename T>
  T get(std::string_view dotted_path, const T& fallback) const {
    YAML::Node n = at(dotted_path);
    if (!n || n.IsNull()) return fallback;
    // Start-up validation (config/schema.h) has checked every key's type, so a value that does
    // not convert here is a key missing from the schema: loud, never a silent default.
    return n.as<T>();
  }
  const YAML::Node& root() const { return root_; }

  // Where values came from, for error messages: the file loaded (empty: none), and whether a dotted
  // path (or a map above it) was set from the command line (`set`, `apply_override`).
  const std::string& file() const { return file_; }
  bool set_by_command_line(std::string_view dotted_path) const;

 private:
  YAML::Node root_;
  std::string file_;
  std::vector<std::string> set_paths_;
};

}  // namespace kuai::config
