#include "tools/llama_peer.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace kuai::tools {

namespace fs = std::filesystem;

namespace {

bool cpu_has_amx() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("flags", 0) == 0) return line.find(" amx_int8") != std::string::npos;
  return false;
}

std::string shell_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

// The binary in folder `dir` (its amx/ build on an AMX CPU when present), or "".
std::string in_folder(const fs::path& dir) {
  std::error_code ec;
  if (cpu_has_amx() && fs::exists(dir / "amx" / "llama-bench", ec)) return (dir / "amx" / "llama-bench").string();
  if (fs::exists(dir / "llama-bench", ec)) return (dir / "llama-bench").string();
  return "";
}

}  // namespace

engine::Result<std::string> find_llama_bench() {
  std::error_code ec;
  if (const char* env = std::getenv("KUAI_LLAMA_BENCH"); env && *env) {
    if (fs::is_directory(env, ec)) {
      if (std::string b = in_folder(env); !b.empty()) return b;
      return engine::make_error(std::string("KUAI_LLAMA_BENCH=") + env + " has no llama-bench");
    }
    if (fs::exists(env, ec)) return std::string(env);
    return engine::make_error(std::string("KUAI_LLAMA_BENCH=") + env + " does not exist");
  }
  std::vector<fs::path> roots = {fs::current_path(ec)};
  // build/<preset>/kuai -> the checkout two levels up
  if (fs::path exe = fs::read_symlink("/proc/self/exe", ec); !ec) roots.push_back(exe.parent_path().parent_path().parent_path());
  for (const fs::path& root : roots) {
    if (root.empty()) continue;
    if (std::string b = in_folder(root / ".." / "shared" / "tools" / "llama.cpp"); !b.empty()) return b;
  }
  return engine::make_error("llama-bench not found (../shared/tools/llama.cpp/ or KUAI_LLAMA_BENCH)");
}

engine::Result<double> run_llama_bench(const std::string& bin, const std::string& model, int n_prompt, int n_gen,
                                       int threads, int reps) {
  const std::string cmd = shell_quote(bin) + " -m " + shell_quote(model) + " -p " + std::to_string(std::max(0, n_prompt)) +
                          " -n " + std::to_string(n_prompt > 0 ? 0 : n_gen) + " -t " + std::to_string(threads) +
                          " -r " + std::to_string(reps) + " -o json 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return engine::make_error("cannot start " + bin + ": " + std::strerror(errno));
  std::string out;
  char buf[4096];
  for (size_t got; (got = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, got);
  const int status = ::pclose(p);
  // popen runs `sh -c`: a child killed by a signal shows as sh's exit status 128 + signal
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : code > 128 ? code - 128 : 0;
  if (sig == SIGILL) return engine::make_error("llama-bench died with SIGILL (built for instructions this CPU lacks)");
  if (sig != 0) return engine::make_error("llama-bench died with signal " + std::to_string(sig));
  if (code != 0) return engine::make_error("llama-bench exited with status " + std::to_string(code));
  boost::system::error_code jec;
  const boost::json::value v = boost::json::parse(out, jec);
  if (jec || !v.is_array() || v.as_array().empty() || !v.as_array()[0].is_object())
    return engine::make_error("llama-bench printed no JSON result");
  const auto& o = v.as_array()[0].as_object();
  const auto* ts = o.if_contains("avg_ts");
  if (!ts || !ts->is_number()) return engine::make_error("llama-bench's JSON has no avg_ts");
  return ts->to_number<double>();
}

}  // namespace kuai::tools
