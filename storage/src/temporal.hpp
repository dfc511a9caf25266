#pragma once
// Text forms of datetimes and durations: RFC 3339 (tag 0 input, JSON output) and SurrealDB's
// duration syntax "1h30m" (tag 13 input, JSON output).
#include <string>
#include <string_view>

#include "cortex/storage/value.hpp"

namespace cortex::storage {

/// Throws cortex::Error(decode_error) when `s` is not RFC 3339.
Datetime parse_rfc3339(std::string_view s);
std::string format_rfc3339(const Datetime& d);
/// Throws cortex::Error(decode_error) when `s` is not a SurrealDB duration.
Duration parse_duration(std::string_view s);
std::string format_duration(const Duration& d);

}  // namespace cortex::storage
