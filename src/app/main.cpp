// kuai: one binary, one verb per job (serve, generate, quantize, …). See `kuai --help`.
#include "app/verbs.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <iostream>

namespace kuai::app {
namespace {
int g_exit_code = 0;
}

std::vector<std::pair<std::string, VerbSetup>>& verb_table() {
  static std::vector<std::pair<std::string, VerbSetup>> table;
  return table;
}

VerbRegistrar::VerbRegistrar(std::string name, VerbSetup setup) {
  verb_table().emplace_back(std::move(name), std::move(setup));
}

void set_exit_code(int code) { g_exit_code = code; }
int exit_code() { return g_exit_code; }

int fail(const std::string& verb, const std::string& message, const std::string& hint) {
  std::fprintf(stderr, "kuai %s: %s\n", verb.c_str(), message.c_str());
  if (!hint.empty()) std::fprintf(stderr, "hint: %s\n", hint.c_str());
  return 1;
}

}  // namespace kuai::app

int main(int argc, char** argv) {
  using namespace kuai::app;
  CLI::App app{"kuai (快): makes LLM applications answer faster.\n"
               "A gateway that speaks the OpenAI API with latency stages, and an embedded CPU engine for GGUF models."};
  app.require_subcommand(1);
  app.set_version_flag("--version", "kuai 0.1.0");
  auto& table = verb_table();
  std::sort(table.begin(), table.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [name, setup] : table) setup(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kuai: %s\n", e.what());
    return 1;
  }
  return exit_code();
}
