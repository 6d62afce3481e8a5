// Hand-formatted HTTP/1.1 message heads, for the hot paths of the server (responses) and the client
// (requests). Beast's serializer walks its header as a long chain of buffer views, which cost the
// gateway ~20k instructions per message (callgrind, bench/gateway_overhead); a head formatted into a
// reused std::string and written together with the body in one gather write costs a few hundred.
//
// Every function appends to `out`. Header names and values are sanitised: CR and LF become spaces, so a
// value that came from outside can never start a new header line. Pure functions, any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kuai::http::head {

// "HTTP/1.1 200 OK\r\n" (version 10 or 11; the reason phrase is the standard one, or "Unknown").
void status_line(std::string& out, unsigned version, int status);
// "POST /path HTTP/1.1\r\n"
void request_line(std::string& out, std::string_view method, std::string_view target);
// "Name: value\r\n"
void field(std::string& out, std::string_view name, std::string_view value);
// "Content-Length: N\r\n"
void content_length(std::string& out, size_t n);
// Whether `s` equals `lower` (given in lower case) in any ASCII letter case: header names, media types.
bool iequals(std::string_view s, std::string_view lower);
// True for the names a handler must not set itself (the writer owns framing): Content-Length,
// Transfer-Encoding, Connection (any letter case).
bool is_framing_field(std::string_view name);
// A response with this status carries no body and no Content-Length (1xx, 204, 304).
bool status_has_no_body(int status);
// The chunk-size line of a chunk of `n` bytes ("1a2\r\n") into `buf` (at least 20 bytes); returns its length.
size_t chunk_size_line(char* buf, size_t n);

}  // namespace kuai::http::head
