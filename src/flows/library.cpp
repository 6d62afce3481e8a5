#include "flows/library.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>

namespace kuai::flows {

bool is_flows_setting(std::string_view key) { return key == "dir" || key == "max_stored_runs"; }

std::variant<FlowLibrary, std::string> FlowLibrary::load(const YAML::Node& flows_node, const std::string& config_file,
                                                        const ModelExists& has_model) {
  FlowLibrary lib;
  if (!flows_node || flows_node.IsNull()) return lib;
  if (!flows_node.IsMap()) return std::string("config 'flows' must be a map of flows (and 'dir')");
  for (const auto& kv : flows_node) {
    std::string key = kv.first.as<std::string>();
    if (is_flows_setting(key)) continue;
    auto f = parse_flow(key, kv.second, config_file, has_model);
    if (auto* err = std::get_if<std::string>(&f)) return *err;
    if (auto err = lib.add(std::get<Flow>(std::move(f)))) return *err;
  }
  if (YAML::Node dir = flows_node["dir"]; dir && dir.IsScalar() && !dir.Scalar().empty()) {
    if (auto err = lib.add_dir(dir.Scalar(), has_model)) return *err;
  }
  return lib;
}

std::optional<std::string> FlowLibrary::add_dir(const std::string& dir, const ModelExists& has_model) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return "config 'flows.dir': '" + dir + "' is not a directory";
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    auto ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".yaml" || ext == ".yml")) files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    auto flow = load_flow_file(f, has_model);
    if (auto* err = std::get_if<std::string>(&flow)) return *err;
    if (auto err = add(std::get<Flow>(std::move(flow)))) return *err;
  }
  return std::nullopt;
}

std::optional<std::string> FlowLibrary::add(Flow flow) {
  if (flows_.count(flow.name)) return "flow '" + flow.name + "' is defined twice (" + flow.file + ")";
  std::string name = flow.name;
  flows_.emplace(std::move(name), std::make_shared<const Flow>(std::move(flow)));
  return std::nullopt;
}

const Flow* FlowLibrary::find(std::string_view name) const {
  auto it = flows_.find(name);
  return it == flows_.end() ? nullptr : it->second.get();
}

std::vector<const Flow*> FlowLibrary::all() const {
  std::vector<const Flow*> out;
  for (const auto& [_, f] : flows_) out.push_back(f.get());
  return out;
}

}  // namespace kuai::flows
