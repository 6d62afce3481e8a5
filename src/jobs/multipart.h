// multipart/form-data (RFC 7578) as file uploads send it: the boundary from the Content-Type, each part's
// Content-Disposition name/filename and its bytes. Parts are views into the body (no copy).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace kuai::jobs {

struct FormPart {
  std::string name;
  std::string filename;      // empty for a plain field
  std::string content_type;  // empty when the part names none
  std::string_view data;
};

// The boundary parameter of a multipart/form-data Content-Type, or nullopt.
std::optional<std::string> multipart_boundary(std::string_view content_type);

// The parts, or an error message naming what is malformed.
std::variant<std::vector<FormPart>, std::string> parse_multipart(std::string_view body, std::string_view boundary);

}  // namespace kuai::jobs
