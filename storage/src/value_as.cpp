// The error paths of Value::as<T>() (value_as.hpp): one message shape — where in the value, what
// was wanted, what was found.
#include "cortex/storage/value_as.hpp"

#include "cortex/storage/error.hpp"

namespace cortex::storage::detail {

void conversion_error(const std::string& path, const std::string& wanted, const Value& found, const std::string& why) {
  std::string msg = "cannot read " + (path.empty() ? std::string("the value") : path) + " as " + wanted + ": it is " +
                    found.type_name();
  if (found.is<std::int64_t>() || found.is<double>() || found.is<bool>()) msg += " " + to_json(found).dump();
  if (!why.empty()) msg += " (" + why + ")";
  throw Error(make_error_code(Errc::invalid_argument), msg);
}

std::string field_path(const std::string& path, std::string_view field) {
  return path.empty() ? std::string(field) : path + "." + std::string(field);
}

std::string index_path(const std::string& path, std::size_t i) { return path + "[" + std::to_string(i) + "]"; }

void require_object(const Value& v, const std::string& path) {
  if (!v.is<Object>()) conversion_error(path, "an object (a row)", v);
}

}  // namespace cortex::storage::detail
