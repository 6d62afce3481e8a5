#include "jobs/batch_input.h"

#include <boost/json.hpp>

#include <unordered_set>

namespace kuai::jobs {
namespace json = boost::json;

bool is_batch_endpoint(std::string_view url) {
  return url == "/v1/chat/completions" || url == "/v1/completions" || url == "/v1/embeddings";
}

BatchInput parse_batch_input(std::string_view content, std::string_view endpoint, int max_lines) {
  BatchInput out;
  std::unordered_set<std::string> seen;
  auto fail = [&](std::string code, std::string message, std::string param, int64_t line) {
    if (out.errors.size() < kMaxReportedErrors)
      out.errors.push_back(LineError{std::move(code), std::move(message), std::move(param), line});
  };
  int64_t line_no = 0;
  size_t pos = 0;
  while (pos < content.size()) {
    size_t eol = content.find('\n', pos);
    if (eol == std::string_view::npos) eol = content.size();
    std::string_view text = content.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (text.find_first_not_of(" \t") == std::string_view::npos) continue;  // blank line
    if (static_cast<int64_t>(out.lines.size()) + static_cast<int64_t>(out.errors.size()) >= max_lines) {
      fail("too_many_lines", "The file has more than " + std::to_string(max_lines) + " requests (jobs.max_lines).",
           "", line_no);
      break;
    }
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec || !v.is_object()) {
      fail("invalid_json_line", "Line " + std::to_string(line_no) + " is not a JSON object.", "", line_no);
      continue;
    }
    const json::object& o = v.as_object();
    auto* cid = o.if_contains("custom_id");
    if (!cid || !cid->is_string() || cid->as_string().empty()) {
      fail("missing_required_parameter", "Line " + std::to_string(line_no) + " has no string 'custom_id'.",
           "custom_id", line_no);
      continue;
    }
    std::string custom_id(cid->as_string());
    auto* method = o.if_contains("method");
    if (!method || !method->is_string() || method->as_string() != "POST") {
      fail("invalid_method", "Line " + std::to_string(line_no) + ": 'method' must be \"POST\".", "method", line_no);
      continue;
    }
    auto* url = o.if_contains("url");
    if (!url || !url->is_string() || !is_batch_endpoint(url->as_string())) {
      fail("invalid_url",
           "Line " + std::to_string(line_no) +
               ": 'url' must be one of /v1/chat/completions, /v1/completions, /v1/embeddings.",
           "url", line_no);
      continue;
    }
    if (url->as_string() != endpoint) {
      fail("mismatched_url",
           "Line " + std::to_string(line_no) + ": 'url' is " + std::string(url->as_string()) +
               " but the batch's endpoint is " + std::string(endpoint) + ".",
           "url", line_no);
      continue;
    }
    auto* body = o.if_contains("body");
    if (!body || !body->is_object()) {
      fail("invalid_body", "Line " + std::to_string(line_no) + ": 'body' must be a JSON object.", "body", line_no);
      continue;
    }
    if (!seen.insert(custom_id).second) {
      fail("duplicate_custom_id", "Line " + std::to_string(line_no) + ": custom_id '" + custom_id + "' is used twice.",
           "custom_id", line_no);
      continue;
    }
    out.lines.push_back(BatchLine{std::move(custom_id), json::serialize(*body)});
  }
  if (out.lines.empty() && out.errors.empty())
    fail("empty_file", "The input file holds no requests.", "", 0);
  return out;
}

}  // namespace kuai::jobs
