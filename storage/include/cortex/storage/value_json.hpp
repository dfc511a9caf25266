#pragma once
// Value <-> nlohmann::json. JSON cannot carry SurrealDB's types, so to_json() is the *display*
// mapping (as SurrealDB's own JSON output): NONE and NULL → null; decimal → string; bytes → array
// of numbers; record id → "table:key"; table → its name; uuid → canonical text; datetime → RFC 3339
// UTC text; duration → "1h30m"; range → "begin..end" text (">" prefix marks an excluded start,
// "=" an included end); set → array; geometry → GeoJSON object; file → "bucket:key".
// from_json() maps null → NULL, booleans, integers (int64), other numbers (float), strings, arrays
// and objects; nothing is guessed from string contents. Use CBOR (cbor.hpp) for faithful round trips.
#include <nlohmann/json.hpp>

#include "cortex/storage/value.hpp"

namespace cortex::storage {

nlohmann::json to_json(const Value& v);
Value from_json(const nlohmann::json& j);
/// to_json(v).dump() — handy for logs and printing.
std::string to_json_text(const Value& v);

}  // namespace cortex::storage
