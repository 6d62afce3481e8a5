#include "jobs/multipart.h"

#include <algorithm>
#include <cctype>

namespace kuai::jobs {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// The value of `key=` in a header's parameters (quoted or token), or nullopt.
std::optional<std::string> param(std::string_view header, std::string_view key) {
  std::string lh = lower(header);
  size_t pos = 0;
  while ((pos = lh.find(key, pos)) != std::string::npos) {
    bool starts = pos == 0 || lh[pos - 1] == ';' || lh[pos - 1] == ' ' || lh[pos - 1] == '\t';
    size_t eq = pos + key.size();
    if (!starts || eq >= lh.size() || lh[eq] != '=') {
      pos = eq;
      continue;
    }
    std::string_view v = header.substr(eq + 1);
    if (!v.empty() && v.front() == '"') {
      std::string out;
      for (size_t i = 1; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size()) out += v[++i];
        else if (v[i] == '"') return out;
        else out += v[i];
      }
      return std::nullopt;  // unterminated quote
    }
    return std::string(trim(v.substr(0, v.find(';'))));
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::string> multipart_boundary(std::string_view content_type) {
  if (lower(trim(content_type.substr(0, content_type.find(';')))) != "multipart/form-data") return std::nullopt;
  auto b = param(content_type, "boundary");
  if (!b || b->empty() || b->size() > 200) return std::nullopt;
  return b;
}

std::variant<std::vector<FormPart>, std::string> parse_multipart(std::string_view body, std::string_view boundary) {
  std::string delim = "--" + std::string(boundary);
  std::vector<FormPart> parts;
  size_t pos = body.find(delim);
  if (pos == std::string_view::npos) return std::string("no part delimited by the boundary");
  while (true) {
    pos += delim.size();
    if (body.substr(pos, 2) == "--") return parts;  // the closing delimiter
    if (body.substr(pos, 2) != "\r\n") return std::string("a boundary line is not followed by CRLF");
    pos += 2;
    size_t head_end = body.find("\r\n\r\n", pos);
    if (head_end == std::string_view::npos) return std::string("a part has no end of headers");
    FormPart part;
    std::string_view heads = body.substr(pos, head_end - pos);
    size_t hp = 0;
    while (hp <= heads.size()) {
      size_t eol = heads.find("\r\n", hp);
      if (eol == std::string_view::npos) eol = heads.size();
      std::string_view h = heads.substr(hp, eol - hp);
      hp = eol + 2;
      auto colon = h.find(':');
      if (colon == std::string_view::npos) continue;
      std::string name = lower(trim(h.substr(0, colon)));
      std::string_view value = trim(h.substr(colon + 1));
      if (name == "content-disposition") {
        part.name = param(value, "name").value_or("");
        part.filename = param(value, "filename").value_or("");
      } else if (name == "content-type") {
        part.content_type = std::string(value);
      }
    }
    size_t data_start = head_end + 4;
    size_t next = body.find("\r\n" + delim, data_start);
    if (next == std::string_view::npos) return std::string("a part has no closing boundary");
    part.data = body.substr(data_start, next - data_start);
    if (part.name.empty()) return std::string("a part has no Content-Disposition name");
    parts.push_back(std::move(part));
    pos = next + 2;
  }
}

}  // namespace kuai::jobs
