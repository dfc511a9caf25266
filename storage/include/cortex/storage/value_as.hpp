#pragma once
// Typed rows: Value::as<T>() and to_value(t), and nlohmann::json interop for Value.
//
// as<T>() reads, in this order:
//  - Value itself, and each alternative (bool, std::string, Uuid, RecordId, …) exactly;
//  - numbers with lossless coercion: a SurrealDB number may come back int or float, so an integral
//    float reads as an integer and an integer as a float when no precision is lost; anything else
//    (out of range, a fraction, |int| > 2^53 as double) is an error;
//  - std::optional<U> (NONE and NULL are empty), std::vector<U> (from an array or set),
//    std::map<std::string, U> (from an object);
//  - structs declared with CORTEX_ROW(Type, field, …) or with a from_value(const Value&, T&,
//    const std::string& path) found by ADL;
//  - anything nlohmann::json can read (via the display mapping of value_json.hpp).
// Errors are cortex::Error(invalid_argument) naming the path ("[2].importance"), the type wanted
// and the type found. to_value() is the reverse (CORTEX_ROW types, containers, optionals, numbers,
// strings, and anything nlohmann can write).
//
// Included by value.hpp: every Value has as<T>().
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include <nlohmann/json.hpp>

#include "cortex/storage/value.hpp"

namespace cortex::storage {

// value_json.hpp's mapping (declared here too: value.hpp includes this header, and value_json.hpp
// includes value.hpp).
nlohmann::json to_json(const Value& v);
Value from_json(const nlohmann::json& j);

namespace detail {

[[noreturn]] void conversion_error(const std::string& path, const std::string& wanted, const Value& found,
                                   const std::string& why = {});
std::string field_path(const std::string& path, std::string_view field);
std::string index_path(const std::string& path, std::size_t i);

template <class T> struct is_optional : std::false_type {};
template <class U> struct is_optional<std::optional<U>> : std::true_type {};
template <class T> struct is_vector : std::false_type {};
template <class U, class A> struct is_vector<std::vector<U, A>> : std::true_type {};
template <class T> struct is_string_map : std::false_type {};
template <class U, class C, class A> struct is_string_map<std::map<std::string, U, C, A>> : std::true_type {};

template <class T, class = void>
struct has_from_value : std::false_type {};
template <class T>
struct has_from_value<T, std::void_t<decltype(from_value(std::declval<const Value&>(), std::declval<T&>(),
                                                         std::declval<const std::string&>()))>> : std::true_type {};
template <class T, class = void>
struct has_to_value : std::false_type {};
template <class T>
struct has_to_value<T, std::void_t<decltype(to_value(std::declval<const T&>()))>> : std::true_type {};

template <class T>
constexpr bool is_alternative = std::is_constructible_v<Value::Variant, T> &&
                                (std::is_same_v<T, None> || std::is_same_v<T, Null> || std::is_same_v<T, bool> ||
                                 std::is_same_v<T, Decimal> || std::is_same_v<T, std::string> || std::is_same_v<T, Bytes> ||
                                 std::is_same_v<T, Array> || std::is_same_v<T, Object> || std::is_same_v<T, RecordId> ||
                                 std::is_same_v<T, Table> || std::is_same_v<T, Uuid> || std::is_same_v<T, Datetime> ||
                                 std::is_same_v<T, Duration> || std::is_same_v<T, Range> || std::is_same_v<T, Set> ||
                                 std::is_same_v<T, Geometry> || std::is_same_v<T, FileRef> ||
                                 std::is_same_v<T, Tagged>);

template <class T>
std::string type_label() {
  if constexpr (std::is_same_v<T, bool>) return "bool";
  else if constexpr (std::is_integral_v<T>) return "int";
  else if constexpr (std::is_floating_point_v<T>) return "float";
  else if constexpr (is_alternative<T>) return Value(T{}).type_name();
  else return "a row";
}

template <class T>
T convert(const Value& v, const std::string& path);

template <class T>
T number(const Value& v, const std::string& path) {
  if (v.is<std::int64_t>()) {
    const std::int64_t i = v.get<std::int64_t>();
    if constexpr (std::is_floating_point_v<T>) {
      const T f = static_cast<T>(i);
      if (static_cast<long double>(f) != static_cast<long double>(i)) conversion_error(path, type_label<T>(), v, "not exactly representable");
      return f;
    } else {
      if constexpr (std::is_unsigned_v<T>) {
        if (i < 0 || static_cast<std::uint64_t>(i) > std::numeric_limits<T>::max()) conversion_error(path, type_label<T>(), v, "out of range");
      } else {
        if (i < std::numeric_limits<T>::min() || i > std::numeric_limits<T>::max()) conversion_error(path, type_label<T>(), v, "out of range");
      }
      return static_cast<T>(i);
    }
  }
  if (v.is<double>()) {
    const double d = v.get<double>();
    if constexpr (std::is_floating_point_v<T>) {
      const T f = static_cast<T>(d);
      if (std::isfinite(d) && static_cast<double>(f) != d) conversion_error(path, type_label<T>(), v, "not exactly representable");
      return f;
    } else {
      // Integral and within range: exactly representable both ways (2^63 itself is out of range).
      if (!(std::isfinite(d) && std::trunc(d) == d && d >= static_cast<double>(std::numeric_limits<T>::min()) &&
            d < static_cast<double>(std::numeric_limits<T>::max()) + 1.0)) {
        conversion_error(path, type_label<T>(), v, "not an integer in range");
      }
      return static_cast<T>(d);
    }
  }
  conversion_error(path, type_label<T>(), v);
}

template <class T>
T convert(const Value& v, const std::string& path) {
  if constexpr (std::is_same_v<T, Value>) {
    return v;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!v.is<bool>()) conversion_error(path, "bool", v);
    return v.get<bool>();
  } else if constexpr (std::is_arithmetic_v<T>) {
    return number<T>(v, path);
  } else if constexpr (is_optional<T>::value) {
    if (v.is_none() || v.is_null()) return std::nullopt;
    return convert<typename T::value_type>(v, path);
  } else if constexpr (is_vector<T>::value && !std::is_same_v<T, Array> && !std::is_same_v<T, Bytes>) {
    const Array* items = v.is<Array>() ? &v.get<Array>() : v.is<Set>() ? &v.get<Set>().items : nullptr;
    if (!items) conversion_error(path, "array", v);
    T out;
    out.reserve(items->size());
    for (std::size_t i = 0; i < items->size(); ++i) out.push_back(convert<typename T::value_type>((*items)[i], index_path(path, i)));
    return out;
  } else if constexpr (is_string_map<T>::value && !std::is_same_v<T, Object>) {
    if (!v.is<Object>()) conversion_error(path, "object", v);
    T out;
    for (const auto& [k, item] : v.get<Object>()) out.emplace(k, convert<typename T::mapped_type>(item, field_path(path, k)));
    return out;
  } else if constexpr (is_alternative<T>) {
    if (!v.is<T>()) conversion_error(path, type_label<T>(), v);
    return v.get<T>();
  } else if constexpr (has_from_value<T>::value) {
    T out{};
    from_value(v, out, path);
    return out;
  } else {
    try {
      return to_json(v).get<T>();
    } catch (const nlohmann::json::exception& e) {
      conversion_error(path, "the requested type", v, e.what());
    }
  }
}

// A CORTEX_ROW field: a missing or NONE member reads as an empty optional, else is an error.
template <class F>
void read_field(const Value& row, const std::string& path, std::string_view name, F& out) {
  const Value& v = row[name];
  if constexpr (is_optional<F>::value) {
    out = convert<F>(v, field_path(path, name));
  } else {
    if (v.is_none() && (!row.is<Object>() || row.get<Object>().find(name) == row.get<Object>().end())) {
      conversion_error(field_path(path, name), type_label<F>(), v, "missing");
    }
    out = convert<F>(v, field_path(path, name));
  }
}

void require_object(const Value& v, const std::string& path);

}  // namespace detail

/// A Value holding `t` (see the header comment for what can be converted).
template <class T>
Value to_value(const T& t) {
  using D = std::decay_t<T>;
  if constexpr (std::is_same_v<D, Value>) {
    return t;
  } else if constexpr (std::is_same_v<D, bool>) {
    return Value(t);
  } else if constexpr (std::is_integral_v<D>) {
    return Value(t);  // throws for unsigned values above INT64_MAX
  } else if constexpr (std::is_floating_point_v<D>) {
    return Value(static_cast<double>(t));
  } else if constexpr (detail::is_optional<D>::value) {
    return t ? to_value(*t) : Value::null();
  } else if constexpr (detail::is_vector<D>::value && !std::is_same_v<D, Array> && !std::is_same_v<D, Bytes>) {
    Array out;
    out.reserve(t.size());
    for (const auto& item : t) out.push_back(to_value(item));
    return Value(std::move(out));
  } else if constexpr (detail::is_string_map<D>::value && !std::is_same_v<D, Object>) {
    Object out;
    for (const auto& [k, item] : t) out.emplace(k, to_value(item));
    return Value(std::move(out));
  } else if constexpr (std::is_constructible_v<Value, const D&>) {
    return Value(t);
  } else if constexpr (detail::has_to_value<D>::value) {
    return to_value(t);  // the type's own (CORTEX_ROW or found by ADL): preferred over this template
  } else {
    return from_json(nlohmann::json(t));
  }
}

template <class T>
T Value::as() const {
  return detail::convert<T>(*this, "");
}

}  // namespace cortex::storage

/// Declares how rows read into and are written from `Type`, field by field (up to 64 fields):
///   struct Memory { std::string text; double importance; std::optional<std::string> tag; };
///   CORTEX_ROW(Memory, text, importance, tag)          // at namespace scope, next to Memory
///   auto rows = result.rows<Memory>();                 // errors name the row and the field
/// A missing field is an error unless it is a std::optional.
#define CORTEX_ROW_READ_FIELD_(f) ::cortex::storage::detail::read_field(row_, path_, #f, out_.f);
#define CORTEX_ROW_WRITE_FIELD_(f) obj_.emplace(#f, ::cortex::storage::to_value(in_.f));
#define CORTEX_ROW(Type, ...)                                                                              \
  inline void from_value(const ::cortex::storage::Value& row_, Type& out_, const std::string& path_) {     \
    ::cortex::storage::detail::require_object(row_, path_);                                                \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(CORTEX_ROW_READ_FIELD_, __VA_ARGS__))                          \
  }                                                                                                        \
  inline ::cortex::storage::Value to_value(const Type& in_) {                                              \
    ::cortex::storage::Object obj_;                                                                        \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(CORTEX_ROW_WRITE_FIELD_, __VA_ARGS__))                         \
    return ::cortex::storage::Value(std::move(obj_));                                                      \
  }

namespace nlohmann {
/// `nlohmann::json j = value;` (the display mapping, value_json.hpp) and `j.get<Value>()`.
template <>
struct adl_serializer<cortex::storage::Value> {
  static void to_json(json& j, const cortex::storage::Value& v) { j = cortex::storage::to_json(v); }
  static cortex::storage::Value from_json(const json& j) { return cortex::storage::from_json(j); }
};
}  // namespace nlohmann
