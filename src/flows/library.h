// The flows a gateway serves: inline under `flows.<name>` in the config and one file per flow in
// `flows.dir` (*.yaml, *.yml). Built once at start-up, read-only afterwards (any thread).
#pragma once

#include "flows/spec.h"

#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace YAML { class Node; }

namespace kuai::flows {

// Keys of the `flows` config map that are settings, not flows.
bool is_flows_setting(std::string_view key);

class FlowLibrary {
 public:
  // `flows_node` is the config's `flows` map (may be undefined); `config_file` names it in messages.
  // Every flow is validated (references, cycles, models through `has_model`); the first error is returned.
  static std::variant<FlowLibrary, std::string> load(const YAML::Node& flows_node, const std::string& config_file,
                                                     const ModelExists& has_model);
  // Adds every *.yaml / *.yml file of `dir` (sorted by name); a flow name given twice is an error.
  std::optional<std::string> add_dir(const std::string& dir, const ModelExists& has_model);
  std::optional<std::string> add(Flow flow);

  const Flow* find(std::string_view name) const;
  std::vector<const Flow*> all() const;

 private:
  std::map<std::string, std::shared_ptr<const Flow>, std::less<>> flows_;
};

}  // namespace kuai::flows
