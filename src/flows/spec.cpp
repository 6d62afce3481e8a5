#include "flows/spec.h"

#include "flows/json_schema.h"

#include <boost/json/serialize.hpp>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <set>

namespace kuai::flows {
namespace json = boost::json;

const char* to_string(StepKind k) {
  switch (k) {
    case StepKind::model: return "model";
    case StepKind::chunk: return "chunk";
    case StepKind::template_: return "template";
    case StepKind::json: return "json";
  }
  return "model";
}

const Step* Flow::find(std::string_view step) const {
  int i = index_of(step);
  return i < 0 ? nullptr : &steps[static_cast<size_t>(i)];
}

int Flow::index_of(std::string_view step) const {
  for (size_t i = 0; i < steps.size(); ++i)
    if (steps[i].name == step) return static_cast<int>(i);
  return -1;
}

namespace {

// Request fields a model step may set besides model/messages (anything else is a typo, not a field).
const std::set<std::string> kRequestFields{"temperature", "top_p", "max_tokens", "max_completion_tokens", "seed",
                                           "stop", "response_format", "presence_penalty", "frequency_penalty",
                                           "logit_bias", "user", "tools", "tool_choice", "reasoning_effort"};

json::value yaml_to_json(const YAML::Node& n) {
  if (n.IsMap()) {
    json::object o;
    for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second);
    return o;
  }
  if (n.IsSequence()) {
    json::array a;
    for (const auto& item : n) a.push_back(yaml_to_json(item));
    return a;
  }
  if (!n.IsScalar()) return nullptr;
  if (n.Tag() == "!") return json::string(n.Scalar());  // quoted: a string
  bool b;
  int64_t i;
  double d;
  if (YAML::convert<int64_t>::decode(n, i)) return i;
  if (YAML::convert<double>::decode(n, d)) return d;
  if (YAML::convert<bool>::decode(n, b)) return b;
  if (n.Scalar() == "null" || n.Scalar() == "~") return nullptr;
  return json::string(n.Scalar());
}

class Parser {
 public:
  Parser(std::string name, std::string file, ModelExists has_model)
      : file_(std::move(file)), has_model_(std::move(has_model)) {
    flow_.name = std::move(name);
    flow_.file = file_;
  }

  std::variant<Flow, std::string> run(const YAML::Node& node) {
    try {
      parse(node);
    } catch (const YAML::Exception& e) {
      if (!error_) error_ = where(e.mark.line) + "flow '" + flow_.name + "': " + e.msg;
    }
    if (error_) return *error_;
    return std::move(flow_);
  }

 private:
  std::string where(int line0) const {
    std::string w = file_.empty() ? std::string("<flow>") : file_;
    if (line0 >= 0) w += ":" + std::to_string(line0 + 1);
    return w + ": ";
  }
  // Records the first error; later ones are ignored.
  bool fail(const YAML::Node& at, const std::string& step, const std::string& what) {
    if (!error_) {
      std::string who = "flow '" + flow_.name + "'" + (step.empty() ? "" : " step '" + step + "'");
      error_ = where(at.Mark().line) + who + ": " + what;
    }
    return false;
  }
  bool fail_line(int line1, const std::string& step, const std::string& what) {
    if (!error_) {
      std::string w = file_.empty() ? std::string("<flow>") : file_;
      if (line1 > 0) w += ":" + std::to_string(line1);
      error_ = w + ": flow '" + flow_.name + "'" + (step.empty() ? "" : " step '" + step + "'") + ": " + what;
    }
    return false;
  }

  std::optional<Template> tmpl(const YAML::Node& n, const std::string& step, const char* key) {
    if (!n.IsScalar()) {
      fail(n, step, std::string("'") + key + "' must be text");
      return std::nullopt;
    }
    auto t = parse_template(n.Scalar());
    if (auto* err = std::get_if<std::string>(&t)) {
      fail(n, step, *err);
      return std::nullopt;
    }
    return std::get<Template>(std::move(t));
  }

  template <typename T>
  bool number(const YAML::Node& n, const std::string& step, const char* key, T lo, T hi, T& out) {
    T v{};
    if (!n.IsScalar() || !YAML::convert<T>::decode(n, v) || v < lo || v > hi)
      return fail(n, step, std::string("'") + key + "' must be a whole number in " + std::to_string(lo) + ".." +
                               std::to_string(hi));
    out = v;
    return true;
  }

  void parse(const YAML::Node& node) {
    if (!node.IsMap()) {
      fail(node, "", "a flow is a map with 'steps' (and optional 'inputs', 'outputs')");
      return;
    }
    flow_.line = node.Mark().line + 1;
    for (const auto& kv : node) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "description") {
        flow_.description = v.as<std::string>();
      } else if (key == "inputs") {
        if (v.IsMap()) {
          for (const auto& in : v) {
            flow_.inputs.push_back(in.first.as<std::string>());
            if (in.second.IsMap() && in.second["default"])
              flow_.input_defaults[flow_.inputs.back()] = in.second["default"].as<std::string>();
          }
        } else if (v.IsSequence()) {
          for (const auto& in : v) flow_.inputs.push_back(in.as<std::string>());
        } else if (!v.IsNull()) {
          fail(v, "", "'inputs' must be a map {name: text} or a list of names");
        }
      } else if (key == "max_parallel") {
        number<int>(v, "", "max_parallel", 1, 1024, flow_.max_parallel);
      } else if (key == "max_parallel_per_model") {
        if (!v.IsMap()) {
          fail(v, "", "'max_parallel_per_model' must be a map {model: calls at once}");
          continue;
        }
        for (const auto& m : v) {
          std::string model = m.first.as<std::string>();
          if (has_model_ && !has_model_(model)) {
            fail(m.first, "", "max_parallel_per_model: unknown model '" + model + "'");
            continue;
          }
          number<int>(m.second, "", ("max_parallel_per_model." + model).c_str(), 1, 1024, flow_.max_parallel_per_model[model]);
        }
      } else if (key == "steps" || key == "outputs" || key == "name") {
        // below
      } else {
        fail(kv.first, "", "unknown key '" + key + "' (a flow has description, inputs, steps, outputs, max_parallel, "
                           "max_parallel_per_model)");
      }
    }
    YAML::Node steps = node["steps"];
    if (!steps || !steps.IsMap() || steps.size() == 0) {
      fail(node, "", "'steps' must be a non-empty map {name: step}");
      return;
    }
    for (const auto& kv : steps) {
      if (error_) return;
      step(kv.first.as<std::string>(), kv.first, kv.second);
    }
    if (YAML::Node outs = node["outputs"]) {
      if (!outs.IsMap()) {
        fail(outs, "", "'outputs' must be a map {name: \"${steps.X.output}\"}");
        return;
      }
      for (const auto& kv : outs) {
        auto t = tmpl(kv.second, "", "outputs");
        if (!t) return;
        for (const auto& part : t->parts) {
          const Ref* r = std::get_if<Ref>(&part);
          if (r && !check_ref(*r, kv.second, "", false)) return;
        }
        flow_.outputs.emplace_back(kv.first.as<std::string>(), std::move(*t));
      }
    }
    if (error_) return;
    // A map step's own max_parallel is honoured: without a run-wide cap written, the run's cap rises to
    // it (a 20-item map with max_parallel 32 under the default 16 ran its last items in a second wave,
    // 1.6x slower on the embedded engine).
    if (!node["max_parallel"])
      for (const Step& st : flow_.steps)
        if (st.map) flow_.max_parallel = std::max(flow_.max_parallel, st.max_parallel);
    // Every reference names something that exists (steps may be referenced before they are written).
    for (auto& s : flow_.steps) resolve_deps(s);
    if (error_) return;
    check_cycles();
  }

  void step(const std::string& name, const YAML::Node& key_node, const YAML::Node& n) {
    if (flow_.find(name)) {
      fail(key_node, name, "written twice");
      return;
    }
    if (auto s = parse_step(name, key_node, n)) flow_.steps.push_back(std::move(*s));
  }

  std::optional<Step> parse_step(const std::string& name, const YAML::Node& key_node, const YAML::Node& n) {
    std::optional<Step> none;
    Step s;
    s.name = name;
    s.file = file_;
    s.line = key_node.Mark().line + 1;
    if (!n.IsMap()) {
      fail(n, name, "a step is a map with one of model, chunk, template, json");
      return none;
    }
    int kinds = 0;
    for (const char* k : {"model", "chunk", "template", "json"}) kinds += n[k] ? 1 : 0;
    if (kinds != 1) {
      fail(n, name,
           kinds == 0 ? "bad kind: a step needs one of model, chunk, template, json"
                      : "bad kind: a step has exactly one of model, chunk, template, json");
      return none;
    }
    json::object fields;
    for (const auto& kv : n) {
      std::string key = kv.first.as<std::string>();
      const YAML::Node& v = kv.second;
      if (key == "model") {
        s.kind = StepKind::model;
        if (!v.IsScalar()) { fail(v, name, "'model' must be a public model name"); return none; }
        s.model = v.Scalar();
        if (s.model.find("${") != std::string::npos) {
          s.model_ref = tmpl(v, name, "model");
          if (!s.model_ref) return none;
        } else if (has_model_ && !has_model_(s.model)) {
          fail(v, name, "unknown model '" + s.model + "' (not in 'models' of the config)");
          return none;
        }
      } else if (key == "chunk" || key == "template" || key == "json") {
        s.kind = key == "chunk" ? StepKind::chunk : key == "template" ? StepKind::template_ : StepKind::json;
        auto t = tmpl(v, name, key.c_str());
        if (!t) return none;
        s.text = std::move(*t);
      } else if (key == "messages") {
        if (!v.IsSequence() || v.size() == 0) { fail(v, name, "'messages' must be a non-empty list"); return none; }
        for (const auto& m : v) {
          if (!m.IsMap() || !m["content"]) { fail(m, name, "a message is {role: user, content: \"…\"}"); return none; }
          MessageSpec ms;
          ms.role = m["role"] ? m["role"].as<std::string>() : "user";
          auto t = tmpl(m["content"], name, "content");
          if (!t) return none;
          ms.content = std::move(*t);
          s.messages.push_back(std::move(ms));
        }
      } else if (key == "prompt") {
        auto t = tmpl(v, name, "prompt");
        if (!t) return none;
        s.messages.push_back({"user", std::move(*t)});
      } else if (key == "map") {
        s.map = tmpl(v, name, "map");
        if (!s.map) return none;
      } else if (key == "when") {
        s.when = tmpl(v, name, "when");
        if (!s.when) return none;
      } else if (key == "max_parallel") {
        if (!number<int>(v, name, "max_parallel", 1, 1024, s.max_parallel)) return none;
      } else if (key == "max_items") {
        if (!number<int>(v, name, "max_items", 1, 100000, s.max_items)) return none;
      } else if (key == "retries") {
        if (!number<int>(v, name, "retries", 0, 10, s.retries)) return none;
      } else if (key == "timeout_ms") {
        if (!number<int64_t>(v, name, "timeout_ms", 0, 86400000, s.timeout_ms)) return none;
      } else if (key == "tokens") {
        if (!number<int64_t>(v, name, "tokens", 1, 1000000, s.chunk_tokens)) return none;
      } else if (key == "pick") {
        s.pick = v.as<std::string>();
      } else if (key == "output") {
        std::string o = v.as<std::string>();
        if (o != "json" && o != "text") { fail(v, name, "'output' must be json or text"); return none; }
        s.output_json = o == "json";
      } else if (key == "schema") {
        json::value schema = yaml_to_json(v);
        if (auto e = schema_error(schema)) { fail(v, name, "'schema': " + *e); return none; }
        s.output_schema_json = json::serialize(schema);
      } else if (key == "on_error") {
        std::string o = v.as<std::string>();
        if (o == "fail") s.on_error = OnError::fail;
        else if (o == "continue") s.on_error = OnError::continue_;
        else if (o == "default") s.on_error = OnError::default_;
        else { fail(v, name, "'on_error' must be fail, continue or default"); return none; }
      } else if (key == "default") {
        s.default_value = v.IsScalar() ? v.Scalar() : json::serialize(yaml_to_json(v));
      } else if (key == "plan") {
        if (!v.IsMap() || v.size() == 0) { fail(v, name, "'plan' is a map of tools {NAME: {model|template, …}}"); return none; }
        for (const auto& tool : v) {
          auto t = parse_step(tool.first.as<std::string>(), tool.first, tool.second);
          if (!t) return none;
          if ((t->kind != StepKind::model && t->kind != StepKind::template_) || t->map || !t->plan_tools.empty()) {
            fail(tool.first, name, "plan tool '" + t->name + "' must be a model or template step without map or plan");
            return none;
          }
          s.plan_tools.push_back(std::move(*t));
        }
      } else if (key == "description") {
      } else if (kRequestFields.count(key)) {
        fields[key] = yaml_to_json(v);
      } else {
        fail(kv.first, name, "unknown key '" + key + "'");
        return none;
      }
    }
    if (s.kind == StepKind::model && s.messages.empty()) {
      fail(n, name, "a model step needs 'messages' or 'prompt'");
      return none;
    }
    if (s.kind != StepKind::model && (!fields.empty() || !s.messages.empty() || s.output_json)) {
      fail(n, name, "messages, prompt, output and request fields belong to a model step");
      return none;
    }
    if (!s.output_schema_json.empty() && !s.output_json) {
      fail(n, name, "'schema' checks an 'output: json' answer: add output: json");
      return none;
    }
    if (!s.plan_tools.empty() && (s.kind != StepKind::model || s.map || s.output_json)) {
      fail(n, name, "'plan' belongs to a model step (the planner) without map or output: json");
      return none;
    }
    if (s.on_error == OnError::default_ && !n["default"]) {
      fail(n, name, "on_error: default needs a 'default' value");
      return none;
    }
    s.request_fields_json = json::serialize(fields);
    return s;
  }

  bool check_ref(const Ref& r, const YAML::Node& at, const std::string& step, bool item_ok) {
    if (r.kind == Ref::Kind::input) {
      if (std::find(flow_.inputs.begin(), flow_.inputs.end(), r.name) == flow_.inputs.end())
        return fail(at, step, "unknown input in '" + r.text() + "' (declare it under 'inputs')");
    } else if (r.kind == Ref::Kind::step) {
      if (!flow_.find(r.name)) return fail(at, step, "unknown step in '" + r.text() + "'" + hint_step(r.name));
    } else if (r.kind == Ref::Kind::item) {
      if (!item_ok) return fail(at, step, "'" + r.text() + "' is only defined in a step with 'map'");
    }
    return true;
  }

  bool check_refs_of(const Template& t, Step& s, bool item_ok, std::set<std::string>& deps) {
    for (const auto& part : t.parts) {
      const Ref* r = std::get_if<Ref>(&part);
      if (!r) continue;
      if (r->kind == Ref::Kind::step) {
        if (r->name == s.name) return fail_line(s.line, s.name, "refers to its own output in '" + r->text() + "'");
        if (!flow_.find(r->name))
          return fail_line(s.line, s.name, "unknown step in '" + r->text() + "'" + hint_step(r->name));
        deps.insert(r->name);
      } else if (r->kind == Ref::Kind::input) {
        if (std::find(flow_.inputs.begin(), flow_.inputs.end(), r->name) == flow_.inputs.end())
          return fail_line(s.line, s.name, "unknown input in '" + r->text() + "' (declare it under 'inputs')");
      } else if (!item_ok) {
        return fail_line(s.line, s.name, "'" + r->text() + "' is only defined in a step with 'map'");
      }
    }
    return true;
  }

  std::string hint_step(const std::string& wrong) const {
    std::string names;
    for (const auto& s : flow_.steps) names += (names.empty() ? "" : ", ") + s.name;
    (void)wrong;
    return " (steps: " + names + ")";
  }

  void resolve_deps(Step& s) {
    std::set<std::string> deps;
    bool is_map = s.map.has_value();
    if (!check_refs_of(s.text, s, is_map, deps)) return;
    if (s.model_ref && !check_refs_of(*s.model_ref, s, is_map, deps)) return;
    for (const auto& m : s.messages)
      if (!check_refs_of(m.content, s, is_map, deps)) return;
    if (s.map && !check_refs_of(*s.map, s, false, deps)) return;
    if (s.when && !check_refs_of(*s.when, s, false, deps)) return;
    for (const auto& tool : s.plan_tools) {  // a tool's ${item.N} are its arguments
      if (!check_refs_of(tool.text, s, true, deps)) return;
      for (const auto& m : tool.messages)
        if (!check_refs_of(m.content, s, true, deps)) return;
      if (tool.model_ref && !check_refs_of(*tool.model_ref, s, true, deps)) return;
    }
    s.deps.assign(deps.begin(), deps.end());
  }

  void check_cycles() {
    // 0 = new, 1 = on the current path, 2 = done.
    std::vector<int> color(flow_.steps.size(), 0);
    std::vector<int> path;
    std::function<bool(int)> visit = [&](int i) -> bool {
      color[static_cast<size_t>(i)] = 1;
      path.push_back(i);
      for (const auto& d : flow_.steps[static_cast<size_t>(i)].deps) {
        int j = flow_.index_of(d);
        if (color[static_cast<size_t>(j)] == 1) {
          std::string cyc;
          auto from = std::find(path.begin(), path.end(), j);
          for (auto it = from; it != path.end(); ++it) cyc += flow_.steps[static_cast<size_t>(*it)].name + " → ";
          cyc += flow_.steps[static_cast<size_t>(j)].name;
          const Step& at = flow_.steps[static_cast<size_t>(j)];
          return fail_line(at.line, at.name, "cycle: " + cyc + " (a step cannot depend on itself through others)");
        }
        if (color[static_cast<size_t>(j)] == 0 && !visit(j)) return false;
      }
      color[static_cast<size_t>(i)] = 2;
      path.pop_back();
      return true;
    };
    for (size_t i = 0; i < flow_.steps.size(); ++i)
      if (color[i] == 0 && !visit(static_cast<int>(i))) return;
  }

  Flow flow_;
  std::string file_;
  ModelExists has_model_;
  std::optional<std::string> error_;
};

}  // namespace

std::variant<Flow, std::string> parse_flow(const std::string& name, const YAML::Node& node, const std::string& file,
                                           const ModelExists& has_model) {
  return Parser(name, file, has_model).run(node);
}

std::variant<Flow, std::string> load_flow_file(const std::string& path, const ModelExists& has_model) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    return path + ": cannot read the file (does it exist?)";
  } catch (const YAML::Exception& e) {
    return path + ":" + std::to_string(e.mark.line + 1) + ": not valid YAML: " + e.msg;
  }
  std::string stem = path.substr(path.find_last_of('/') + 1);
  stem = stem.substr(0, stem.find('.'));
  if (root.IsMap() && !root["steps"] && root.size() == 1) {
    auto it = root.begin();
    return parse_flow(it->first.as<std::string>(), it->second, path, has_model);
  }
  std::string name = root.IsMap() && root["name"] ? root["name"].as<std::string>() : stem;
  return parse_flow(name, root, path, has_model);
}

}  // namespace kuai::flows
