#include "config/config.h"

#include <fstream>
#include <sstream>

namespace kuai::config {
namespace {

std::vector<std::string> split_path(std::string_view dotted) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= dotted.size()) {
    size_t dot = dotted.find('.', start);
    if (dot == std::string_view::npos) dot = dotted.size();
    if (dot > start) parts.emplace_back(dotted.substr(start, dot - start));
    start = dot + 1;
  }
  return parts;
}

}  // namespace

std::optional<std::string> Config::load_file(const std::string& path, Config& out) {
  std::ifstream in(path);
  if (!in) return "cannot read config file '" + path + "'";
  std::stringstream ss;
  ss << in.rdbuf();
  if (auto err = load_string(ss.str(), out)) return "config file '" + path + "': " + *err;
  out.file_ = path;
  return std::nullopt;
}

std::optional<std::string> Config::load_string(const std::string& yaml, Config& out) {
  try {
    YAML::Node root = YAML::Load(yaml);
    if (root.IsNull()) root = YAML::Node(YAML::NodeType::Map);
    if (!root.IsMap()) return std::string("the top level must be a map of keys");
    out.root_ = root;
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    return std::string("invalid YAML: ") + e.what();
  }
}

std::optional<std::string> Config::apply_override(std::string_view assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string_view::npos || eq == 0)
    return "override '" + std::string(assignment) + "' must look like a.b.c=value";
  try {
    YAML::Node value = YAML::Load(std::string(assignment.substr(eq + 1)));
    set(assignment.substr(0, eq), value);
    return std::nullopt;
  } catch (const YAML::Exception& e) {
    return "override '" + std::string(assignment) + "': " + e.what();
  }
}

void Config::set(std::string_view dotted_path, const YAML::Node& value) {
  auto parts = split_path(dotted_path);
  if (parts.empty()) return;
  set_paths_.emplace_back(dotted_path);
  // yaml-cpp nodes are handles: walking with operator[] on non-const nodes creates the maps.
  std::vector<YAML::Node> chain{root_};
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    YAML::Node next = chain.back()[parts[i]];
    if (!next.IsMap()) {
      chain.back()[parts[i]] = YAML::Node(YAML::NodeType::Map);
      next.reset(chain.back()[parts[i]]);
    }
    chain.push_back(next);
  }
  chain.back()[parts.back()] = value;
}

bool Config::set_by_command_line(std::string_view dotted_path) const {
  auto within = [](std::string_view inner, std::string_view outer) {  // inner is outer or below it
    return inner.substr(0, outer.size()) == outer &&
           (inner.size() == outer.size() || inner[outer.size()] == '.' || inner[outer.size()] == '[');
  };
  // The path itself, a key below a set map, or a map that holds a set key ("sever" of --set sever.port=1).
  for (const auto& p : set_paths_)
    if (within(dotted_path, p) || within(p, dotted_path)) return true;
  return false;
}

YAML::Node Config::at(std::string_view dotted_path) const {
  // Const lookups never insert keys; reset() rebinds the handle (operator= would overwrite the node).
  YAML::Node cur;
  cur.reset(root_);
  for (const auto& part : split_path(dotted_path)) {
    if (!cur.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& c = cur;
    YAML::Node next = c[part];
    if (!next) return YAML::Node(YAML::NodeType::Undefined);
    cur.reset(next);
  }
  return cur;
}

}  // namespace kuai::config
