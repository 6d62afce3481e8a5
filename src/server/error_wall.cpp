#include "server/error_wall.h"

#include <spdlog/spdlog.h>

namespace kuai::server {

api::Error error_of(const std::exception_ptr& error, std::string_view where) {
  try {
    std::rethrow_exception(error);
  } catch (const api::Error& e) {
    return e;
  } catch (const http::ProtocolError& e) {
    if (e.status() == 413) return api::Error::too_large(e.what());
    if (e.status() >= 500 && e.status() != 501) return api::Error::internal(e.what());
    return api::Error(e.status(), "invalid_request_error", e.what());
  } catch (const std::exception& e) {
    spdlog::error("{}{}unhandled error: {}", where, where.empty() ? "" : ": ", e.what());
    return api::Error::internal(std::string("internal error: ") + e.what());
  } catch (...) {
    spdlog::error("{}{}unhandled error of an unknown type", where, where.empty() ? "" : ": ");
    return api::Error::internal("internal error");
  }
}

http::ErrorReply openai_error_reply(const std::exception_ptr& error) {
  api::Error e = error_of(error, "http");
  return http::ErrorReply{e.status(), "application/json", e.body()};
}

}  // namespace kuai::server
