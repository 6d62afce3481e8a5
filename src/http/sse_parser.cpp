#include "http/sse_parser.h"

namespace kuai::http {

bool SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  if (failed_) return false;
  if (at_start_ && !bytes.empty()) {
    // A BOM may arrive split too: wait until 3 bytes are known.
    line_.append(bytes);
    if (line_.size() < 3 && std::string_view("\xEF\xBB\xBF").substr(0, line_.size()) == line_) return true;
    at_start_ = false;
    if (line_.compare(0, 3, "\xEF\xBB\xBF") == 0) line_.erase(0, 3);
    std::string pending = std::move(line_);
    line_.clear();
    return feed(pending, out);
  }
  size_t pos = 0;
  if (skip_lf_ && !bytes.empty()) {
    if (bytes[0] == '\n') pos = 1;
    skip_lf_ = false;
  }
  while (pos < bytes.size()) {
    size_t eol = bytes.find_first_of("\r\n", pos);
    if (eol == std::string_view::npos) {
      line_.append(bytes.substr(pos));
      if (line_.size() + data_.size() > max_event_bytes_) return !(failed_ = true);
      return true;
    }
    bool ok;
    if (line_.empty()) {
      ok = process_line(bytes.substr(pos, eol - pos), out);
    } else {
      line_.append(bytes.substr(pos, eol - pos));
      ok = process_line(line_, out);
      line_.clear();
    }
    if (!ok) return !(failed_ = true);
    if (bytes[eol] == '\r') {
      if (eol + 1 < bytes.size()) {
        pos = eol + (bytes[eol + 1] == '\n' ? 2 : 1);
      } else {
        skip_lf_ = true;
        pos = eol + 1;
      }
    } else {
      pos = eol + 1;
    }
  }
  return true;
}

bool SseParser::process_line(std::string_view line, std::vector<SseEvent>& out) {
  if (line.empty()) {
    if (have_data_) {
      if (!data_.empty() && data_.back() == '\n') data_.pop_back();
      SseEvent ev;
      ev.event = std::move(event_);
      ev.data = std::move(data_);
      ev.id = id_;
      ev.retry_ms = retry_;
      out.push_back(std::move(ev));
    }
    data_.clear();
    event_.clear();
    have_data_ = false;
    retry_.reset();
    return true;
  }
  if (line[0] == ':') {
    ++comments_;
    return true;
  }
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
  if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
  if (field == "data") {
    if (data_.size() + value.size() + 1 > max_event_bytes_) return false;
    data_.append(value);
    data_.push_back('\n');
    have_data_ = true;
  } else if (field == "event") {
    event_.assign(value);
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) id_.assign(value);
  } else if (field == "retry") {
    if (!value.empty() && value.size() < 18 && value.find_first_not_of("0123456789") == std::string_view::npos)
      retry_ = std::stoll(std::string(value));
  }
  return true;
}

}  // namespace kuai::http
