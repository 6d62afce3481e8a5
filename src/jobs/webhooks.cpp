#include "jobs/webhooks.h"

#include "config/config.h"
#include "http/client.h"
#include "jobs/webhook_sign.h"
#include "obs/metrics.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

namespace kuai::jobs {
namespace net = boost::asio;

std::variant<WebhookOptions, std::string> webhook_options_from_config(const config::Config& cfg) {
  WebhookOptions o;
  o.backoff_initial_ms = cfg.get<int64_t>("jobs.webhooks.backoff_initial_ms", o.backoff_initial_ms);
  o.backoff_max_ms = cfg.get<int64_t>("jobs.webhooks.backoff_max_ms", o.backoff_max_ms);
  o.horizon_s = cfg.get<int64_t>("jobs.webhooks.horizon_s", o.horizon_s);
  o.timeout_ms = cfg.get<int64_t>("jobs.webhooks.timeout_ms", o.timeout_ms);
  YAML::Node allow = cfg.at("jobs.webhooks.allow_private");
  if (allow && allow.IsSequence())
    for (const auto& a : allow) o.allow_private.push_back(a.as<std::string>(""));
  for (const char* key : {"request_url_tenants", "request_url_secrets"}) {
    YAML::Node n = cfg.at(std::string("jobs.webhooks.") + key);
    if (!n || !n.IsSequence()) continue;
    auto& out = std::string_view(key) == "request_url_tenants" ? o.request_url_tenants : o.request_url_secrets;
    for (const auto& v : n) out.push_back(v.as<std::string>(""));
  }
  for (const auto& s : o.request_url_secrets)
    if (!webhook_secret_key(s))
      return std::string("config 'jobs.webhooks.request_url_secrets': a secret is 'whsec_' + base64 of the key");
  if (!o.request_url_tenants.empty() && o.request_url_secrets.empty())
    return std::string("config 'jobs.webhooks.request_url_tenants' needs 'jobs.webhooks.request_url_secrets' to sign with");
  YAML::Node eps = cfg.at("jobs.webhooks.endpoints");
  if (!eps || !eps.IsSequence()) return o;
  for (const auto& e : eps) {
    WebhookEndpoint ep;
    ep.url = e["url"].as<std::string>("");
    ep.tenant = e["tenant"].as<std::string>("");
    if (ep.url.rfind("http://", 0) != 0 && ep.url.rfind("https://", 0) != 0)
      return "config 'jobs.webhooks.endpoints[].url' must be an http:// or https:// URL, got '" + ep.url + "'";
    if (e["secrets"] && e["secrets"].IsSequence())
      for (const auto& s : e["secrets"]) ep.secrets.push_back(s.as<std::string>(""));
    if (ep.secrets.empty()) return "config 'jobs.webhooks.endpoints[]' (" + ep.url + ") needs 'secrets' (whsec_…)";
    for (const auto& s : ep.secrets)
      if (!webhook_secret_key(s))
        return "config 'jobs.webhooks.endpoints[].secrets' (" + ep.url + "): a secret is 'whsec_' + base64 of the key";
    o.endpoints.push_back(std::move(ep));
  }
  return o;
}

namespace {

// host and port of an http(s) URL ("[::1]" unbracketed).
bool host_port(const std::string& url, std::string& host, std::string& port) {
  bool tls = url.rfind("https://", 0) == 0;
  size_t start = tls ? 8 : 7;
  size_t end = url.find_first_of("/?#", start);
  std::string auth = url.substr(start, end == std::string::npos ? std::string::npos : end - start);
  if (auto at = auth.rfind('@'); at != std::string::npos) auth = auth.substr(at + 1);
  port = tls ? "443" : "80";
  if (!auth.empty() && auth.front() == '[') {
    auto close = auth.find(']');
    if (close == std::string::npos) return false;
    host = auth.substr(1, close - 1);
    if (close + 1 < auth.size() && auth[close + 1] == ':') port = auth.substr(close + 2);
  } else {
    auto colon = auth.rfind(':');
    host = auth.substr(0, colon);
    if (colon != std::string::npos) port = auth.substr(colon + 1);
  }
  return !host.empty() && !port.empty();
}

}  // namespace

struct WebhookSender::Impl {
  Store& store;
  net::strand<net::any_io_executor> strand;
  WebhookOptions opts;
  SsrfGuard guard;
  http::Client client;
  std::atomic<bool> stopping{false};
  net::steady_timer wake;
  prometheus::Family<prometheus::Counter>* results = nullptr;

  Impl(Store& s, net::any_io_executor io, WebhookOptions o, SsrfGuard g)
      : store(s), strand(net::make_strand(io)), opts(std::move(o)), guard(std::move(g)), client(client_options(opts)),
        wake(strand) {}

  static http::ClientOptions client_options(const WebhookOptions& o) {
    http::ClientOptions c;
    c.connect_timeout = std::chrono::milliseconds(o.timeout_ms);
    c.first_byte_timeout = std::chrono::milliseconds(o.timeout_ms);
    c.total_timeout = std::chrono::milliseconds(o.timeout_ms);
    c.max_body_bytes = 1 << 20;
    return c;
  }

  void count(const char* result) {
    if (results) results->Add({{"result", result}}).Increment();
  }

  std::vector<std::string> endpoints_for(const JobEvent& e) const {
    std::vector<std::string> out;
    for (const auto& ep : opts.endpoints)
      if (ep.tenant.empty() || ep.tenant == e.tenant) out.push_back(ep.url);
    if (!e.request_url.empty() && std::find(out.begin(), out.end(), e.request_url) == out.end())
      out.push_back(e.request_url);
    return out;
  }

  // The secrets that sign deliveries to `url`: its configured endpoint's, else the per-job URLs' ones.
  const std::vector<std::string>* secrets_for(const std::string& url) const {
    for (const auto& ep : opts.endpoints)
      if (ep.url == url) return &ep.secrets;
    return opts.request_url_secrets.empty() ? nullptr : &opts.request_url_secrets;
  }

  // The reason a delivery to `url` is refused, or "" when every address it resolves to is allowed.
  net::awaitable<std::string> refusal(const std::string& url) {
    std::string host, port;
    if (!host_port(url, host, port)) co_return "cannot read the host of " + url;
    net::ip::tcp::resolver resolver(strand);
    auto [ec, results] = co_await resolver.async_resolve(host, port, net::as_tuple(net::use_awaitable));
    if (ec) co_return "cannot resolve " + host + ": " + ec.message();
    for (const auto& r : results) {
      auto a = r.endpoint().address();
      if (!guard.allowed(a))
        co_return "address " + a.to_string() + " of " + host + " is private (list it in jobs.webhooks.allow_private)";
    }
    co_return "";
  }

  net::awaitable<void> deliver(Delivery d) {
    const std::vector<std::string>* secrets = secrets_for(d.endpoint);
    if (!secrets || store.endpoint_disabled(d.endpoint)) {
      store.record_delivery(d, "disabled", 0, 0, secrets ? "endpoint disabled (410)" : "endpoint no longer configured");
      count("disabled");
      co_return;
    }
    ++d.attempts;
    std::string refused = co_await refusal(d.endpoint);
    if (!refused.empty()) {
      spdlog::warn("webhook {} to {} refused: {}", d.event.id, d.endpoint, refused);
      store.record_delivery(d, "refused", 0, 0, refused);
      count("refused");
      co_return;
    }
    boost::json::object payload{{"id", d.event.id},
                                {"type", d.event.type},
                                {"created_at", d.event.created_at},
                                {"data", boost::json::object{{"id", d.event.job_id}}}};
    http::ClientRequest req;
    req.method = "POST";
    req.url = d.endpoint;
    req.body = boost::json::serialize(payload);
    int64_t ts = now_s();
    req.headers = {{"content-type", "application/json"},
                   {"webhook-id", d.event.id},
                   {"webhook-timestamp", std::to_string(ts)},
                   {"webhook-signature", webhook_signature(*secrets, d.event.id, ts, req.body)}};
    int status = 0;
    std::string error;
    try {
      http::ClientResponse r = co_await client.request(std::move(req));
      status = r.status;
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (status >= 200 && status < 300) {
      store.record_delivery(d, "delivered", 0, status, "");
      count("delivered");
    } else if (status == 410) {
      store.record_delivery(d, "disabled", 0, status, "410 Gone: endpoint disabled");
      store.disable_endpoint(d.endpoint);
      spdlog::warn("webhook endpoint {} answered 410: disabled", d.endpoint);
      count("disabled");
    } else {
      if (error.empty()) error = "HTTP " + std::to_string(status);
      int64_t backoff = opts.backoff_initial_ms;
      for (int i = 1; i < d.attempts && backoff < opts.backoff_max_ms; ++i) backoff *= 2;
      backoff = std::min(backoff, opts.backoff_max_ms);
      bool past = now_s() + backoff / 1000 > d.event.created_at + opts.horizon_s;
      store.record_delivery(d, past ? "failed" : "pending", now_ms() + backoff, status, error);
      count(past ? "failed" : "retry");
    }
  }

  net::awaitable<void> run() {
    while (!stopping) {
      try {
        store.fan_out_events([this](const JobEvent& e) { return endpoints_for(e); });
        for (auto& d : store.due_deliveries(now_ms(), 64)) {
          if (stopping) break;
          co_await deliver(std::move(d));
        }
      } catch (const std::exception& e) {
        spdlog::error("webhooks: {}", e.what());
      }
      wake.expires_after(std::chrono::milliseconds(200));
      co_await wake.async_wait(net::as_tuple(net::use_awaitable));
    }
  }
};

std::variant<std::unique_ptr<WebhookSender>, std::string> WebhookSender::create(Store& store, net::any_io_executor io,
                                                                               WebhookOptions options,
                                                                               obs::Metrics* metrics) {
  auto guard = SsrfGuard::from_list(options.allow_private);
  if (auto* err = std::get_if<std::string>(&guard)) return *err;
  auto impl = std::make_unique<Impl>(store, std::move(io), std::move(options), std::get<SsrfGuard>(std::move(guard)));
  if (metrics)
    impl->results = &metrics->counter("kuai_jobs_webhook_deliveries_total", "Webhook delivery tries, by result.");
  return std::unique_ptr<WebhookSender>(new WebhookSender(std::move(impl)));
}

WebhookSender::WebhookSender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WebhookSender::~WebhookSender() = default;

void WebhookSender::start() { net::co_spawn(impl_->strand, impl_->run(), net::detached); }

void WebhookSender::notify() {
  net::post(impl_->strand, [impl = impl_.get()] { impl->wake.cancel(); });
}

void WebhookSender::stop() { impl_->stopping = true; }

std::string WebhookSender::check_request_url(const std::string& tenant, const std::string& url) const {
  const auto& allowed = impl_->opts.request_url_tenants;
  if (std::find(allowed.begin(), allowed.end(), tenant) == allowed.end())
    return "Tenant '" + tenant + "' may not set metadata.webhook_url (config jobs.webhooks.request_url_tenants).";
  if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
    return "metadata.webhook_url must be an http:// or https:// URL.";
  return "";
}

}  // namespace kuai::jobs
