// Precompiled header of kuai_http (declared PCH in CMakeLists.txt): Beast, Asio and SSL are the
// expensive includes of every file in src/http/, server and client side alike. Generic on purpose:
// nothing kuai-specific here, so any file of the folder may rely on it.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/url.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>
