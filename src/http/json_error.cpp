// JSON error bodies.
#include "http/json_error.hpp"

#include <nlohmann/json.hpp>

namespace skein::http {

namespace {
std::string dump(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace

std::string json_error(std::string_view code, std::string_view message) {
  return dump({{"error", code}, {"message", message}});
}

std::string json_name_error(std::string_view code, const core::NameError& error) {
  return dump({{"error", code},
               {"rule", core::rule_id(error.rule)},
               {"offset", error.offset},
               {"message", error.message}});
}

}  // namespace skein::http
