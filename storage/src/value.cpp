#include "cortex/storage/value.hpp"

#include <cstdio>
#include <random>

#include "cortex/storage/error.hpp"

namespace cortex::storage {
namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const Value& none_value() {
  static const Value v;
  return v;
}

struct Equal {
  bool operator()(const None&, const None&) const { return true; }
  bool operator()(const Null&, const Null&) const { return true; }
  bool operator()(const Decimal& a, const Decimal& b) const { return a.text == b.text; }
  bool operator()(const RecordId& a, const RecordId& b) const { return a.table == b.table && *a.key == *b.key; }
  bool operator()(const Table& a, const Table& b) const { return a.name == b.name; }
  bool operator()(const Uuid& a, const Uuid& b) const { return a.bytes == b.bytes; }
  bool operator()(const Datetime& a, const Datetime& b) const { return a.seconds == b.seconds && a.nanos == b.nanos; }
  bool operator()(const Duration& a, const Duration& b) const { return a.seconds == b.seconds && a.nanos == b.nanos; }
  bool operator()(const Bound& a, const Bound& b) const {
    return a.kind == b.kind && (a.kind == Bound::Kind::unbounded || *a.value == *b.value);
  }
  bool operator()(const Range& a, const Range& b) const { return (*this)(a.begin, b.begin) && (*this)(a.end, b.end); }
  bool operator()(const Set& a, const Set& b) const { return a.items == b.items; }
  bool operator()(const Geometry& a, const Geometry& b) const { return a.tag == b.tag && *a.data == *b.data; }
  bool operator()(const FileRef& a, const FileRef& b) const { return a.bucket == b.bucket && a.key == b.key; }
  bool operator()(const Tagged& a, const Tagged& b) const { return a.tag == b.tag && *a.value == *b.value; }
  template <class T>
  bool operator()(const T& a, const T& b) const { return a == b; }
  template <class A, class B>
  bool operator()(const A&, const B&) const { return false; }
};

}  // namespace

Uuid Uuid::parse(std::string_view text) {
  Uuid u;
  std::size_t n = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '-' && (i == 8 || i == 13 || i == 18 || i == 23)) continue;
    const int hi = hex_digit(text[i]), lo = i + 1 < text.size() ? hex_digit(text[i + 1]) : -1;
    if (hi < 0 || lo < 0 || n == 16) {
      throw Error(make_error_code(Errc::invalid_argument), "malformed uuid '" + std::string(text) + "'");
    }
    u.bytes[n++] = static_cast<std::uint8_t>(hi * 16 + lo);
    ++i;
  }
  if (n != 16 || text.size() != 36) throw Error(make_error_code(Errc::invalid_argument), "malformed uuid '" + std::string(text) + "'");
  return u;
}

Uuid Uuid::random() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  Uuid u;
  for (std::size_t i = 0; i < 16; i += 8) {
    const auto r = rng();
    for (std::size_t j = 0; j < 8; ++j) u.bytes[i + j] = static_cast<std::uint8_t>(r >> (8 * j));
  }
  u.bytes[6] = static_cast<std::uint8_t>((u.bytes[6] & 0x0f) | 0x40);
  u.bytes[8] = static_cast<std::uint8_t>((u.bytes[8] & 0x3f) | 0x80);
  return u;
}

std::string Uuid::to_string() const {
  char buf[37];
  std::snprintf(buf, sizeof buf, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", bytes[0],
                bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7], bytes[8], bytes[9], bytes[10],
                bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]);
  return std::string(buf, 36);
}

const Value& Value::operator[](std::string_view key) const {
  if (const auto* o = std::get_if<Object>(&v_)) {
    auto it = o->find(key);
    if (it != o->end()) return it->second;
  }
  return none_value();
}

const Value& Value::operator[](std::size_t index) const {
  if (const auto* a = std::get_if<Array>(&v_)) {
    if (index < a->size()) return (*a)[index];
  }
  return none_value();
}

const char* Value::type_name() const noexcept {
  static const char* const names[] = {"none",   "null",  "bool",   "int",   "float", "decimal",  "string",
                                      "bytes",  "array", "object", "record", "table", "uuid",     "datetime",
                                      "duration", "range", "set",  "geometry", "file", "tagged"};
  static_assert(sizeof(names) / sizeof(names[0]) == std::variant_size_v<Variant>);
  return names[v_.index()];
}

Value::Value(unsigned long v) : Value(static_cast<unsigned long long>(v)) {}
Value::Value(unsigned long long v) {
  if (v > static_cast<unsigned long long>(INT64_MAX)) {
    throw Error(make_error_code(Errc::invalid_argument),
                "integer " + std::to_string(v) + " is above SurrealDB's largest (2^63 - 1)");
  }
  v_ = static_cast<std::int64_t>(v);
}

void Value::type_mismatch(const char* wanted) const {
  throw Error(make_error_code(Errc::invalid_argument), std::string("value is ") + type_name() + ", not " + wanted);
}

bool operator==(const Value& a, const Value& b) { return std::visit(Equal{}, a.v_, b.v_); }

}  // namespace cortex::storage
