// CLI verbs: one file per verb (src/app/verb_<name>.cpp) registers itself with a static VerbRegistrar,
// so adding a verb touches no other file. Each verb adds its CLI11 subcommand (with --help text) and a
// callback that returns the process exit code through set_exit_code().
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace kuai::app {

using VerbSetup = std::function<void(CLI::App& root)>;

struct VerbRegistrar {
  VerbRegistrar(std::string name, VerbSetup setup);
};

std::vector<std::pair<std::string, VerbSetup>>& verb_table();
void set_exit_code(int code);
int exit_code();

// Prints "kuai <verb>: <message>" and, when given, "hint: <hint>" to stderr; returns 1 for `return fail(...)`.
int fail(const std::string& verb, const std::string& message, const std::string& hint = {});

}  // namespace kuai::app
