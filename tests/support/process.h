// Test helpers for integration tests (header-only, POSIX sockets, no Beast so tests compile fast):
//  - free_port():            a free loopback TCP port
//  - kuai_bin():             the kuai binary under test (support/paths.h)
//  - ChildProcess:           spawns a child in its own process group, stderr+stdout to a temp file;
//                            wait_listening() parses "listening on HOST:PORT"; the destructor kills the
//                            whole group (SIGKILL) even when the test failed
//  - RawConnection:          a blocking TCP connection with read timeouts (slowloris, disconnect tests)
//  - HttpClient:             tiny blocking HTTP/1.1 client, keep-alive, Content-Length / chunked
//                            (with trailers) / read-to-close bodies
//  - run_shell(cmd):         a shell command's exit code and output
//  - sse_data(body):         the `data:` payloads of an SSE body, in order
//  - WsClient:               minimal WebSocket client (text messages, masks frames, answers pings)
// Every call has a timeout, so a broken server makes a test fail, never hang.
// Threads: each object is for one thread.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "support/paths.h"

extern char** environ;

namespace kuai::test {

using Ms = std::chrono::milliseconds;

inline std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A loopback port that was free a moment ago (bind to 0, read it back, close).
inline uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    throw std::runtime_error("bind() failed");
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}


// Connects to 127.0.0.1:port; returns the fd or -1.
inline int connect_loopback(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

inline bool wait_for_port(uint16_t port, Ms timeout = Ms(10000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int fd = connect_loopback(port);
    if (fd >= 0) {
      ::close(fd);
      return true;
    }
    std::this_thread::sleep_for(Ms(10));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------------
// Child processes

class ChildProcess {
 public:
  ChildProcess() = default;
  // Spawns `program args...` in a new process group; stdout and stderr go to a temp file (output()).
  ChildProcess(const std::string& program, const std::vector<std::string>& args) { start(program, args); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ChildProcess(ChildProcess&& o) noexcept { *this = std::move(o); }
  ChildProcess& operator=(ChildProcess&& o) noexcept {
    if (this != &o) {
      kill();
      pid_ = std::exchange(o.pid_, -1);
      log_path_ = std::move(o.log_path_);
      exit_status_ = o.exit_status_;
    }
    return *this;
  }
  ~ChildProcess() {
    kill();
    if (!log_path_.empty()) ::unlink(log_path_.c_str());
  }

  void start(const std::string& program, const std::vector<std::string>& args) {
    char tmpl[] = "/tmp/kuai-test-child-XXXXXX";
    int log_fd = ::mkstemp(tmpl);
    if (log_fd < 0) throw std::runtime_error("mkstemp failed");
    log_path_ = tmpl;
    std::vector<std::string> argv_s{program};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, log_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, log_fd, 2);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&attr, 0);
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, program.c_str(), &fa, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    ::close(log_fd);
    if (rc != 0) throw std::runtime_error("cannot spawn " + program + ": " + std::strerror(rc));
    pid_ = pid;
    exit_status_.reset();
  }

  pid_t pid() const { return pid_; }
  std::string output() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  // Waits until the child printed "listening on HOST:PORT"; returns PORT, or 0 on timeout / exit.
  uint16_t wait_listening(Ms timeout = Ms(15000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::string out = output();
      auto pos = out.find("listening on ");
      if (pos != std::string::npos) {
        auto eol = out.find('\n', pos);
        if (eol != std::string::npos) {
          std::string line = out.substr(pos, eol - pos);
          auto colon = line.rfind(':');
          if (colon != std::string::npos) return static_cast<uint16_t>(std::atoi(line.c_str() + colon + 1));
        }
      }
      if (!running()) return 0;
      std::this_thread::sleep_for(Ms(10));
    }
    return 0;
  }

  bool running() {
    if (pid_ <= 0 || exit_status_) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_status_ = status;
      return false;
    }
    return true;
  }

  // Sends `sig` and waits for the exit; returns the exit code (128+signal when killed), or nullopt
  // when it did not exit in time (it is then killed).
  std::optional<int> stop(int sig = SIGTERM, Ms timeout = Ms(10000)) {
    if (pid_ <= 0) return std::nullopt;
    if (running()) ::kill(pid_, sig);
    return wait_exit(timeout);
  }

  std::optional<int> wait_exit(Ms timeout = Ms(10000)) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(Ms(5));
    if (running()) {
      kill();
      return std::nullopt;
    }
    if (!exit_status_) return std::nullopt;
    int st = *exit_status_;
    if (WIFEXITED(st)) return WEXITSTATUS(st);
    if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
    return std::nullopt;
  }

  // Kills the whole process group and reaps the child.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(-pid_, SIGKILL);
    if (!exit_status_) {
      int status = 0;
      ::waitpid(pid_, &status, 0);
      exit_status_ = status;
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> exit_status_;
};

// Starts `kuai <args...>` (args should include --port 0 or a port) and waits for "listening on".
// Throws with the child's output when it does not come up.
struct KuaiProcess {
  ChildProcess proc;
  uint16_t port = 0;

  explicit KuaiProcess(const std::vector<std::string>& args, Ms timeout = Ms(15000))
      : proc(kuai_bin(), args) {
    port = proc.wait_listening(timeout);
    if (port == 0) throw std::runtime_error("kuai did not start listening; output:\n" + proc.output());
  }
};

// ---------------------------------------------------------------------------------------------------
// Raw TCP

class RawConnection {
 public:
  RawConnection() = default;
  explicit RawConnection(uint16_t port) { connect(port); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;
  RawConnection(RawConnection&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  ~RawConnection() { close(); }

  bool connect(uint16_t port) {
    close();
    fd_ = connect_loopback(port);
    return fd_ >= 0;
  }
  bool is_open() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // Closes with RST instead of FIN (abrupt disconnect).
  void reset() {
    if (fd_ < 0) return;
    linger l{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close();
  }

  bool send_all(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads what is available within `timeout`: >0 bytes appended, 0 on orderly close, -1 on timeout/error.
  ssize_t recv_some(std::string& out, Ms timeout) {
    pollfd p{fd_, POLLIN, 0};
    int r = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (r <= 0) return -1;
    char buf[16384];
    ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n > 0) out.append(buf, static_cast<size_t>(n));
    if (n < 0) return -1;
    return n;
  }

  // True when the peer closes (EOF or reset) within `timeout`; data received meanwhile is discarded.
  bool wait_closed(Ms timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::string sink;
    while (std::chrono::steady_clock::now() < deadline) {
      auto left = std::chrono::duration_cast<Ms>(deadline - std::chrono::steady_clock::now());
      pollfd p{fd_, POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(1, left.count())));
      if (r < 0) return false;
      if (r == 0) continue;
      char buf[4096];
      ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return true;
    }
    return false;
  }

  int fd() const { return fd_; }

 private:
  int fd_ = -1;
};

// ---------------------------------------------------------------------------------------------------
// HTTP

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;              // 0: no response (connection failed or closed early)
  HeaderList headers;          // names lowercased
  HeaderList trailers;         // chunked trailers, names lowercased
  std::string body;

  std::string header(std::string_view name) const {
    std::string n = lower(name);
    for (const auto& [k, v] : headers)
      if (k == n) return v;
    return {};
  }
  std::string trailer(std::string_view name) const {
    std::string n = lower(name);
    for (const auto& [k, v] : trailers)
      if (k == n) return v;
    return {};
  }
  bool has_header(std::string_view name) const {
    std::string n = lower(name);
    for (const auto& [k, v] : headers)
      if (k == n) return true;
    return false;
  }
};

class HttpClient {
 public:
  explicit HttpClient(uint16_t port, Ms timeout = Ms(15000)) : port_(port), timeout_(timeout) {}

  HttpResponse get(const std::string& path, const HeaderList& headers = {}) {
    return request("GET", path, {}, headers);
  }
  HttpResponse post(const std::string& path, const std::string& body, const HeaderList& headers = {},
                    const std::string& content_type = "application/json") {
    HeaderList h = headers;
    if (!content_type.empty()) h.emplace_back("Content-Type", content_type);
    return request("POST", path, body, h);
  }

  // Sends one request on the kept-alive connection (reconnecting once if the server closed it).
  HttpResponse request(const std::string& method, const std::string& path, const std::string& body,
                       const HeaderList& headers = {}) {
    std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port_) + "\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    if (!body.empty() || method == "POST" || method == "PUT")
      req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    req += "\r\n";
    req += body;
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool fresh = false;
      if (!conn_.is_open()) {
        if (!conn_.connect(port_)) return {};
        buf_.clear();
        fresh = true;
      }
      if (!conn_.send_all(req)) {
        conn_.close();
        if (fresh) return {};
        continue;
      }
      HttpResponse resp;
      if (read_response(resp, method == "HEAD")) return resp;
      conn_.close();
      if (fresh || resp.status != 0) return resp;
    }
    return {};
  }

  RawConnection& connection() { return conn_; }

 private:
  // Reads until `n` bytes are buffered; false on close/timeout.
  bool fill(size_t n) {
    while (buf_.size() < n)
      if (conn_.recv_some(buf_, timeout_) <= 0) return false;
    return true;
  }
  bool read_line(std::string& line) {
    for (;;) {
      auto pos = buf_.find("\r\n");
      if (pos != std::string::npos) {
        line = buf_.substr(0, pos);
        buf_.erase(0, pos + 2);
        return true;
      }
      if (conn_.recv_some(buf_, timeout_) <= 0) return false;
    }
  }
  static void parse_header_line(const std::string& line, HeaderList& out) {
    auto colon = line.find(':');
    if (colon == std::string::npos) return;
    std::string v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(0, 1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.pop_back();
    out.emplace_back(lower(line.substr(0, colon)), v);
  }

  bool read_response(HttpResponse& resp, bool head) {
    std::string line;
    for (;;) {  // skip 1xx interim responses
      if (!read_line(line)) return false;
      if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0) return false;
      resp.status = std::atoi(line.c_str() + 9);
      resp.headers.clear();
      for (;;) {
        if (!read_line(line)) return false;
        if (line.empty()) break;
        parse_header_line(line, resp.headers);
      }
      if (resp.status >= 200) break;
    }
    bool close_after = lower(resp.header("connection")) == "close";
    if (head || resp.status == 204 || resp.status == 304) return true;
    if (lower(resp.header("transfer-encoding")).find("chunked") != std::string::npos) {
      for (;;) {
        if (!read_line(line)) return false;
        size_t len = std::strtoul(line.c_str(), nullptr, 16);
        if (len == 0) break;
        if (!fill(len + 2)) return false;
        resp.body.append(buf_, 0, len);
        buf_.erase(0, len + 2);
      }
      for (;;) {
        if (!read_line(line)) return false;
        if (line.empty()) break;
        parse_header_line(line, resp.trailers);
      }
    } else if (resp.has_header("content-length")) {
      size_t len = std::strtoul(resp.header("content-length").c_str(), nullptr, 10);
      if (!fill(len)) return false;
      resp.body = buf_.substr(0, len);
      buf_.erase(0, len);
    } else {
      while (conn_.recv_some(buf_, timeout_) > 0) {}
      resp.body = std::move(buf_);
      buf_.clear();
      close_after = true;
    }
    if (close_after) conn_.close();
    return true;
  }

  uint16_t port_;
  Ms timeout_;
  RawConnection conn_;
  std::string buf_;
};

// A shell command run to completion: its exit code (-1 when it did not exit normally) and its stdout
// and stderr together.
struct ShellRun {
  int code = -1;
  std::string out;
};

inline ShellRun run_shell(const std::string& cmd) {
  ShellRun r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// The payloads of the `data:` lines of an SSE body, in order (comments and other fields skipped).
inline std::vector<std::string> sse_data(std::string_view body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find('\n', pos);
    if (eol == std::string_view::npos) eol = body.size();
    std::string_view line = body.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, 5) == "data:") {
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      out.emplace_back(line);
    }
    pos = eol + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// WebSocket (RFC 6455), client side, text messages only.

class WsClient {
 public:
  explicit WsClient(Ms timeout = Ms(15000)) : timeout_(timeout) {}

  // Opens the connection and performs the upgrade; returns the HTTP status of the handshake (101 on
  // success; 0 when nothing came back).
  int connect(uint16_t port, const std::string& path, const HeaderList& headers = {}) {
    if (!conn_.connect(port)) return 0;
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    req += "\r\n";
    if (!conn_.send_all(req)) return 0;
    while (buf_.find("\r\n\r\n") == std::string::npos)
      if (conn_.recv_some(buf_, timeout_) <= 0) return 0;
    auto end = buf_.find("\r\n\r\n");
    handshake_ = buf_.substr(0, end);
    buf_.erase(0, end + 4);
    if (handshake_.size() < 12) return 0;
    return std::atoi(handshake_.c_str() + 9);
  }
  const std::string& handshake() const { return handshake_; }

  bool send_text(std::string_view text) { return send_frame(0x1, text); }
  void close() {
    send_close();
    conn_.close();
  }
  // Sends a Close frame (1000) and keeps the socket open for the server's answering Close.
  bool send_close() { return send_frame(0x8, std::string_view("\x03\xe8", 2)); }
  // True once recv_text() ended on the server's Close frame (not on a plain disconnect or timeout).
  bool got_close() const { return got_close_; }

  // The next text message, or nullopt when the connection closed or timed out.
  std::optional<std::string> recv_text() {
    std::string message;
    for (;;) {
      if (!fill(2)) return std::nullopt;
      auto b0 = static_cast<uint8_t>(buf_[0]), b1 = static_cast<uint8_t>(buf_[1]);
      size_t hdr = 2;
      uint64_t len = b1 & 0x7f;
      if (len == 126) {
        if (!fill(4)) return std::nullopt;
        len = (uint64_t(uint8_t(buf_[2])) << 8) | uint8_t(buf_[3]);
        hdr = 4;
      } else if (len == 127) {
        if (!fill(10)) return std::nullopt;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | uint8_t(buf_[2 + i]);
        hdr = 10;
      }
      if (b1 & 0x80) hdr += 4;  // servers must not mask, but skip the key if one is there
      if (!fill(hdr + len)) return std::nullopt;
      std::string payload = buf_.substr(hdr, len);
      buf_.erase(0, hdr + len);
      uint8_t op = b0 & 0x0f;
      if (op == 0x8) {
        got_close_ = true;
        conn_.close();
        return std::nullopt;
      }
      if (op == 0x9) {
        send_frame(0xA, payload);
        continue;
      }
      if (op == 0xA) continue;
      message += payload;
      if (b0 & 0x80) return message;
    }
  }

  RawConnection& connection() { return conn_; }

 private:
  bool fill(size_t n) {
    while (buf_.size() < n)
      if (conn_.recv_some(buf_, timeout_) <= 0) return false;
    return true;
  }
  bool send_frame(uint8_t opcode, std::string_view payload) {
    std::string f;
    f.push_back(static_cast<char>(0x80 | opcode));
    if (payload.size() < 126) {
      f.push_back(static_cast<char>(0x80 | payload.size()));
    } else if (payload.size() < 65536) {
      f.push_back(static_cast<char>(0x80 | 126));
      f.push_back(static_cast<char>(payload.size() >> 8));
      f.push_back(static_cast<char>(payload.size() & 0xff));
    } else {
      f.push_back(static_cast<char>(0x80 | 127));
      for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((uint64_t(payload.size()) >> (8 * i)) & 0xff));
    }
    uint8_t mask[4];
    for (auto& m : mask) m = static_cast<uint8_t>(rng_());
    f.append(reinterpret_cast<const char*>(mask), 4);
    for (size_t i = 0; i < payload.size(); ++i) f.push_back(static_cast<char>(payload[i] ^ mask[i % 4]));
    return conn_.send_all(f);
  }

  Ms timeout_;
  RawConnection conn_;
  std::string buf_;
  std::string handshake_;
  std::minstd_rand rng_{12345};
  bool got_close_ = false;
};

}  // namespace kuai::test
