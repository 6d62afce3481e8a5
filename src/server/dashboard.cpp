#include "server/dashboard.h"

#include "api/error.h"
#include "config/config.h"
#include "server/gateway_state.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <prometheus/metric_family.h>

#include <charconv>
#include <cmath>
#include <random>

namespace kuai::server {
namespace net = boost::asio;
namespace json = boost::json;

namespace {

// data/dashboard/*, compiled in (CMakeLists.txt: src/server/dashboard_assets.inc.in).
#include "server/dashboard_assets.inc"

constexpr std::string_view kCookie = "kuai_dashboard";

bool is_loopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The value of cookie `name` in a Cookie header, or "".
std::string_view cookie_value(const http::Request& req, std::string_view name) {
  const std::string* h = req.header("cookie");
  if (!h) return {};
  std::string_view rest = *h;
  while (!rest.empty()) {
    auto semi = rest.find(';');
    std::string_view part = rest.substr(0, semi);
    rest = semi == std::string_view::npos ? std::string_view{} : rest.substr(semi + 1);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    if (part.size() > name.size() && part.substr(0, name.size()) == name && part[name.size()] == '=')
      return part.substr(name.size() + 1);
  }
  return {};
}

// One field of an application/x-www-form-urlencoded body, decoded.
std::string form_field(std::string_view body, std::string_view name) {
  while (!body.empty()) {
    auto amp = body.find('&');
    std::string_view part = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    auto eq = part.find('=');
    if (part.substr(0, eq) != name || eq == std::string_view::npos) continue;
    std::string out;
    std::string_view v = part.substr(eq + 1);
    for (size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '+') {
        out += ' ';
      } else if (unsigned byte = 0; v[i] == '%' && i + 2 < v.size() &&
                 std::from_chars(v.data() + i + 1, v.data() + i + 3, byte, 16).ptr == v.data() + i + 3) {
        out += static_cast<char>(byte);
        i += 2;
      } else {
        out += v[i];
      }
    }
    return out;
  }
  return {};
}

// Compares without an early exit, so the time taken does not tell how much of a guess was right.
bool same_secret(std::string_view guess, std::string_view secret) {
  if (secret.empty() || guess.size() != secret.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < guess.size(); ++i) diff |= static_cast<unsigned char>(guess[i] ^ secret[i]);
  return diff == 0;
}

enum class Access { allowed, needs_login, refused };

Access access_of(State& s, const http::Request& req) {
  const auto& o = s.dashboard;
  if (o.admin_key.empty()) return o.loopback ? Access::allowed : Access::refused;
  return s.dashboard_sessions.valid(cookie_value(req, kCookie)) ? Access::allowed : Access::needs_login;
}

net::awaitable<int> send_page(http::ResponseWriter& w, int status, std::string_view page, http::Headers headers = {}) {
  headers.emplace_back("Cache-Control", "no-store");
  headers.emplace_back("Content-Security-Policy", "default-src 'self'; style-src 'self'; img-src 'self' data:");
  co_await w.send(status, "text/html; charset=utf-8", std::string(page), headers);
  co_return status;
}

std::string login_page(std::string_view message) {
  std::string page(kLoginHtml);
  auto at = page.find("{{message}}");
  if (at != std::string::npos) page.replace(at, 11, std::string(message));
  return page;
}

// The Prometheus registry as JSON: {name: {type, help, series: [{labels, value} | {labels, count, sum,
// buckets: [[le, cumulative], …]}]}} for the kuai_* families.
std::string metrics_json(obs::Metrics& metrics) {
  json::object out;
  for (const auto& fam : metrics.registry().Collect()) {
    if (fam.name.rfind("kuai_", 0) != 0) continue;
    json::object f;
    json::array series;
    for (const auto& m : fam.metric) {
      json::object one;
      json::object labels;
      for (const auto& l : m.label) labels[l.name] = l.value;
      one["labels"] = std::move(labels);
      switch (fam.type) {
        case prometheus::MetricType::Counter: one["value"] = m.counter.value; break;
        case prometheus::MetricType::Gauge: one["value"] = m.gauge.value; break;
        case prometheus::MetricType::Histogram: {
          one["count"] = m.histogram.sample_count;
          one["sum"] = m.histogram.sample_sum;
          json::array buckets;
          for (const auto& b : m.histogram.bucket)
            if (std::isfinite(b.upper_bound)) buckets.push_back(json::array{b.upper_bound, b.cumulative_count});
          one["buckets"] = std::move(buckets);
          break;
        }
        default: continue;
      }
      series.push_back(std::move(one));
    }
    f["type"] = fam.type == prometheus::MetricType::Histogram ? "histogram"
                : fam.type == prometheus::MetricType::Gauge   ? "gauge"
                                                              : "counter";
    f["series"] = std::move(series);
    out[fam.name] = std::move(f);
  }
  return json::serialize(out);
}

json::object record_json(const RequestRecord& r) {
  json::object o{{"seq", r.seq},       {"t", r.unix_ms},         {"method", r.method},
                 {"path", r.path},     {"tenant", r.tenant},     {"model", r.model},
                 {"status", r.status}, {"stream", r.stream},     {"total_ms", r.total_ms},
                 {"first_byte_ms", r.first_byte_ms},             {"server_timing", r.server_timing}};
  json::object kuai;
  for (const auto& [k, v] : r.kuai) kuai[k] = v;
  o["kuai"] = std::move(kuai);
  if (!r.error.empty()) o["error"] = r.error;
  if (!r.content.empty()) o["content"] = r.content;
  return o;
}

std::string event_json(State& s, uint64_t& last_seq) {
  json::array requests;
  for (const auto& r : s.recent_requests->since(last_seq)) {
    requests.push_back(record_json(r));
    last_seq = r.seq;
  }
  json::object o;
  o["t"] = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
               .count();
  o["show_content"] = s.dashboard.show_content;
  json::array stages;
  for (const auto& n : s.pipeline->stage_names()) stages.push_back(json::value(n));
  o["stages"] = std::move(stages);
  o["requests"] = std::move(requests);
  // The registry is spliced in as text: it is already JSON.
  std::string text = json::serialize(o);
  text.pop_back();
  return text + ",\"metrics\":" + metrics_json(s.metrics) + "}";
}

net::awaitable<int> stream_events(State& s, http::ResponseWriter& w) {
  http::Headers h{{"Cache-Control", "no-store"}};
  if (!co_await w.begin_stream(200, "text/event-stream", h, "")) co_return 200;
  net::steady_timer timer(co_await net::this_coro::executor);
  uint64_t last_seq = 0;
  // Ends when the client goes or the gateway stops (so a dashboard left open never holds the drain).
  while (!s.stopping.load() && !w.client_gone()) {
    if (!co_await w.write("data: " + event_json(s, last_seq) + "\n\n")) break;
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(net::use_awaitable);
  }
  if (!w.client_gone()) co_await w.end_stream();
  co_return 200;
}

}  // namespace

DashboardOptions DashboardOptions::from_config(const config::Config& cfg) {
  DashboardOptions o;
  o.loopback = is_loopback(cfg.get<std::string>("server.host", "127.0.0.1"));
  o.enabled = cfg.get<bool>("dashboard.enabled", o.loopback);
  o.show_content = cfg.get<bool>("dashboard.show_content", false);
  o.max_requests = static_cast<size_t>(cfg.get<int64_t>("dashboard.max_requests", 200));
  o.admin_key = cfg.get<std::string>("admin_key", "");
  return o;
}

std::string DashboardSessions::create() {
  thread_local std::random_device rd;
  std::string token;
  static constexpr char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 8; ++i) {
    uint32_t v = rd();
    for (int j = 0; j < 4; ++j, v >>= 8) {
      token += kHex[(v >> 4) & 0xF];
      token += kHex[v & 0xF];
    }
  }
  auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  std::erase_if(expiry_, [&](const auto& kv) { return kv.second < now; });
  expiry_[token] = now + kLifetime;
  return token;
}

bool DashboardSessions::valid(std::string_view token) {
  if (token.empty()) return false;
  std::lock_guard lock(mu_);
  auto it = expiry_.find(token);
  return it != expiry_.end() && it->second >= std::chrono::steady_clock::now();
}

net::awaitable<int> handle_dashboard(State& s, http::Request& req, http::ResponseWriter& w) {
  std::string_view path = req.path();
  if (path == "/dashboard/style.css" || path == "/dashboard/app.js") {
    require_method(req, "GET");
    const bool css = path.ends_with(".css");
    std::string body(css ? std::string_view(kStyleCss) : std::string_view(kAppJs));
    http::Headers h{{"Cache-Control", "no-cache"}};
    co_await w.send(200, css ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8", std::move(body), h);
    co_return 200;
  }
  if (path == "/dashboard/login") {
    require_method(req, "POST");
    if (s.dashboard.admin_key.empty())
      co_return co_await send_page(w, 400, login_page("No admin_key is set: nothing to log in to."));
    if (!same_secret(form_field(req.body, "key"), s.dashboard.admin_key))
      co_return co_await send_page(w, 401, login_page("Wrong key."));
    http::Headers h{{"Location", "/dashboard"},
                    {"Set-Cookie", std::string(kCookie) + "=" + s.dashboard_sessions.create() +
                                       "; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=43200"}};
    co_await w.send(303, "text/plain", "", h);
    co_return 303;
  }
  const Access access = access_of(s, req);
  if (access == Access::refused)
    throw api::Error(403, "invalid_request_error",
                     "The dashboard needs admin_key when the gateway listens beyond loopback: set admin_key, or "
                     "dashboard.enabled: false.",
                     "forbidden");
  if (path == "/dashboard" || path == "/dashboard/") {
    require_method(req, "GET");
    if (access == Access::needs_login) co_return co_await send_page(w, 401, login_page(""));
    co_return co_await send_page(w, 200, std::string_view(kIndexHtml));
  }
  if (path == "/dashboard/events") {
    require_method(req, "GET");
    if (access == Access::needs_login)
      throw api::Error::unauthorized("Log in at /dashboard first (the dashboard uses admin_key).");
    co_return co_await stream_events(s, w);
  }
  throw api::Error::not_found("Unknown dashboard URL: " + std::string(path), "unknown_url");
}

}  // namespace kuai::server
