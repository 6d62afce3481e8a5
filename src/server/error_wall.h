// The gateway's one error wall: any exception → the api::Error the client sees (its status and
// OpenAI error body). Every catch-all of the gateway goes through error_of: the outer wall
// (gateway.cpp), the chat flow's HTTP and WebSocket walls (chat_flow.cpp), job lines
// (job_executor.cpp), and http::Server's own (openai_error_formatter, wired by Gateway::create).
//
// Catch with `catch (...) { e = error_of(std::current_exception(), …); }`. (GCC 12 and a reference
// bound by `catch (const api::Error& e)` in a coroutine are fine too: tests/server/error_wall_test.cpp
// checks that pattern under ASan, so neither form is a workaround.)
#pragma once

#include "api/error.h"
#include "http/server.h"

#include <exception>
#include <string_view>

namespace kuai::server {

// An api::Error is itself; an http::ProtocolError keeps its status (413 request_too_large, 431, 400,
// 501: invalid_request_error; 500: server_error); anything else is a 500 server_error "internal error:
// <what>", logged with `where` (it is a bug: the code that raised it should have raised an api::Error).
api::Error error_of(const std::exception_ptr& error, std::string_view where = {});

// http::Server's ErrorFormatter: error_of, as an OpenAI JSON body.
http::ErrorReply openai_error_reply(const std::exception_ptr& error);

}  // namespace kuai::server
