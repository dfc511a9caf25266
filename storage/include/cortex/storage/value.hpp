#pragma once
// Value: every SurrealDB type (docs/protocol.md §3) as a C++ value. NONE and NULL are distinct; a value
// decoded from CBOR and encoded again keeps its type (a record id stays a record id, a table a table).
// Thread-safety: a Value is a plain value type — share const references freely, copy to mutate.
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace cortex::storage {

class Value;

/// A copyable heap box, so recursive types (a record id's key is a Value) have value semantics.
template <class T>
class Box {
 public:
  Box() : p_(std::make_unique<T>()) {}
  Box(T v) : p_(std::make_unique<T>(std::move(v))) {}  // NOLINT: implicit by design
  Box(const Box& o) : p_(std::make_unique<T>(*o.p_)) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& o) { *p_ = *o.p_; return *this; }
  Box& operator=(Box&& o) noexcept = default;
  T& operator*() { return *p_; }
  const T& operator*() const { return *p_; }
  T* operator->() { return p_.get(); }
  const T* operator->() const { return p_.get(); }

 private:
  std::unique_ptr<T> p_;
};

struct None {};  ///< SurrealDB NONE (absent value); CBOR tag 6
struct Null {};  ///< SurrealDB NULL; CBOR null
using Bytes = std::vector<std::uint8_t>;
using Array = std::vector<Value>;
using Object = std::map<std::string, Value, std::less<>>;

struct Uuid {
  std::array<std::uint8_t, 16> bytes{};
  /// Parses "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; throws cortex::Error(invalid_argument).
  static Uuid parse(std::string_view text);
  /// A random version-4 UUID.
  static Uuid random();
  std::string to_string() const;
};
struct Decimal { std::string text; };     ///< arbitrary-precision decimal, kept as text (tag 10)
struct Datetime { std::int64_t seconds = 0; std::uint32_t nanos = 0; };  ///< UTC (tag 12)
struct Duration { std::uint64_t seconds = 0; std::uint32_t nanos = 0; };  ///< (tag 14)
struct Table { std::string name; };       ///< a table name (tag 7)
struct RecordId {  ///< table:key (tag 8)
  std::string table;
  Box<Value> key;
  /// As SurrealDB prints it: `memory:abc`, `memory:42`, `memory:⟨a b⟩`, `memory:[1, 'x']`.
  std::string to_string() const;
};
struct Bound {
  enum class Kind { unbounded, included, excluded };
  Kind kind = Kind::unbounded;
  Box<Value> value;
};
struct Range { Bound begin, end; };       ///< (tag 49)
struct Set { Array items; };              ///< 3.x set (tag 56)
struct FileRef { std::string bucket, key; };  ///< 3.x file reference (tag 55)
/// A geometry: tag 88 point, 89 line, 90 polygon, 91 multipoint, 92 multiline, 93 multipolygon,
/// 94 collection; `data` is the tag's payload (arrays of coordinates or of geometries).
struct Geometry { std::uint64_t tag = 88; Box<Value> data; };
/// A tag this client does not model: 2.x futures (tag 15), or whatever a newer server sends. Decoded
/// from the wire it also keeps `raw`, the whole item's bytes as received, and encodes back to
/// exactly them (a reply passed on is passed on unchanged); built by hand (`raw` empty) it encodes
/// as the tag around `value`. After changing a decoded one's `value`, clear `raw`.
struct Tagged {
  std::uint64_t tag = 0;
  Box<Value> value;
  std::string raw;
};

class Value {
 public:
  using Variant = std::variant<None, Null, bool, std::int64_t, double, Decimal, std::string, Bytes, Array, Object,
                               RecordId, Table, Uuid, Datetime, Duration, Range, Set, Geometry, FileRef, Tagged>;

  Value() = default;  ///< NONE
  Value(None) {}
  Value(Null v) : v_(v) {}
  Value(bool v) : v_(v) {}
  Value(int v) : v_(std::int64_t{v}) {}
  Value(long v) : v_(std::int64_t{v}) {}
  Value(long long v) : v_(static_cast<std::int64_t>(v)) {}
  Value(unsigned v) : v_(std::int64_t{v}) {}
  /// SurrealDB integers are 64-bit signed: above INT64_MAX throws cortex::Error(invalid_argument).
  Value(unsigned long v);
  Value(unsigned long long v);
  Value(double v) : v_(v) {}
  Value(const char* v) : v_(std::string(v)) {}
  Value(std::string v) : v_(std::move(v)) {}
  Value(std::string_view v) : v_(std::string(v)) {}
  template <class T, class = std::enable_if_t<std::is_constructible_v<Variant, T&&> &&
                                              !std::is_arithmetic_v<std::decay_t<T>> &&
                                              !std::is_same_v<std::decay_t<T>, Value>>>
  Value(T&& v) : v_(std::forward<T>(v)) {}  // NOLINT: implicit by design

  static Value none() { return Value(); }
  static Value null() { return Value(Null{}); }

  template <class T>
  bool is() const noexcept { return std::holds_alternative<T>(v_); }
  bool is_none() const noexcept { return is<None>(); }
  bool is_null() const noexcept { return is<Null>(); }

  /// The alternative T; throws cortex::Error(invalid_argument) naming both types on a mismatch.
  template <class T>
  const T& get() const;
  template <class T>
  T& get();

  /// Converts to T — exact alternatives, lossless number coercion, optional/vector/map, CORTEX_ROW
  /// structs, anything nlohmann::json reads (value_as.hpp). Throws cortex::Error(invalid_argument)
  /// naming the path within the value, the type wanted and the type found.
  template <class T>
  T as() const;

  /// Object member lookup; NONE when this is not an object or the key is absent.
  const Value& operator[](std::string_view key) const;
  /// Array element; NONE when out of range or not an array.
  const Value& operator[](std::size_t index) const;

  /// Name of the held type ("none", "null", "bool", "int", "float", "decimal", "string", "bytes",
  /// "array", "object", "record", "table", "uuid", "datetime", "duration", "range", "set",
  /// "geometry", "file", "tagged").
  const char* type_name() const noexcept;

  const Variant& variant() const noexcept { return v_; }
  Variant& variant() noexcept { return v_; }

  friend bool operator==(const Value& a, const Value& b);
  friend bool operator!=(const Value& a, const Value& b) { return !(a == b); }

 private:
  [[noreturn]] void type_mismatch(const char* wanted) const;
  Variant v_;
};

template <class T>
const T& Value::get() const {
  if (auto* p = std::get_if<T>(&v_)) return *p;
  type_mismatch(Value(T{}).type_name());
}
template <class T>
T& Value::get() {
  if (auto* p = std::get_if<T>(&v_)) return *p;
  type_mismatch(Value(T{}).type_name());
}

/// Builds a record id `table:key`.
inline Value record(std::string table, Value key) { return Value(RecordId{std::move(table), std::move(key)}); }

}  // namespace cortex::storage

// Value::as<T>(), to_value(), CORTEX_ROW and nlohmann::json interop.
#include "cortex/storage/value_as.hpp"
