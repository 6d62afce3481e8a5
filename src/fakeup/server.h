// The fake upstream's own small HTTP/1.1 server (Boost.Beast, Asio coroutines, keep-alive, optional
// TLS). Kept apart from the gateway's http::Server on purpose: it is a test double and a benchmark
// baseline, so it must stay tiny and fast.
#pragma once

#include "fakeup/options.h"

#include <string>

namespace kuai::fakeup {

// Serves until SIGINT/SIGTERM. Prints "listening on HOST:PORT" on stderr once accepting.
// Returns 0 on a clean stop; on a start-up failure returns non-zero with `error` set.
int run_server(const Options& opts, std::string& error);

}  // namespace kuai::fakeup
