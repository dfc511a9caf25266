#include "cortex/storage/value_json.hpp"

#include <algorithm>
#include <cctype>

#include "temporal.hpp"

namespace cortex::storage {
namespace {

std::string key_text(const Value& k) {
  if (k.is<std::string>()) return k.get<std::string>();
  if (k.is<std::int64_t>()) return std::to_string(k.get<std::int64_t>());
  return to_json(k).dump();
}

bool plain_key(const std::string& s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!(std::isalnum(c) || c == '_')) return false;
  }
  return !std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c); });  // "42" would read as a number
}

std::string bound_text(const Bound& b) { return b.kind == Bound::Kind::unbounded ? "" : key_text(*b.value); }

struct ToJson {
  nlohmann::json operator()(const None&) const { return nullptr; }
  nlohmann::json operator()(const Null&) const { return nullptr; }
  nlohmann::json operator()(bool b) const { return b; }
  nlohmann::json operator()(std::int64_t i) const { return i; }
  nlohmann::json operator()(double d) const { return d; }
  nlohmann::json operator()(const Decimal& d) const { return d.text; }
  nlohmann::json operator()(const std::string& s) const { return s; }
  nlohmann::json operator()(const Bytes& b) const { return nlohmann::json(b); }
  nlohmann::json operator()(const Array& a) const {
    auto j = nlohmann::json::array();
    for (const auto& e : a) j.push_back(to_json(e));
    return j;
  }
  nlohmann::json operator()(const Object& o) const {
    auto j = nlohmann::json::object();
    for (const auto& [k, e] : o) j[k] = to_json(e);
    return j;
  }
  nlohmann::json operator()(const RecordId& r) const { return r.table + ":" + key_text(*r.key); }
  nlohmann::json operator()(const Table& t) const { return t.name; }
  nlohmann::json operator()(const Uuid& u) const { return u.to_string(); }
  nlohmann::json operator()(const Datetime& d) const { return format_rfc3339(d); }
  nlohmann::json operator()(const Duration& d) const { return format_duration(d); }
  nlohmann::json operator()(const Range& r) const {
    return (r.begin.kind == Bound::Kind::excluded ? ">" : "") + bound_text(r.begin) + ".." +
           (r.end.kind == Bound::Kind::included ? "=" : "") + bound_text(r.end);
  }
  nlohmann::json operator()(const Set& s) const { return (*this)(s.items); }
  nlohmann::json operator()(const Geometry& g) const {
    static const char* const types[] = {"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString",
                                        "MultiPolygon", "GeometryCollection"};
    const auto type = types[g.tag - 88];
    if (g.tag == 94) return {{"type", type}, {"geometries", to_json(*g.data)}};
    return {{"type", type}, {"coordinates", to_json(*g.data)}};
  }
  nlohmann::json operator()(const FileRef& f) const { return f.bucket + ":" + f.key; }
  nlohmann::json operator()(const Tagged& t) const { return {{"tag", t.tag}, {"value", to_json(*t.value)}}; }
};

}  // namespace

nlohmann::json to_json(const Value& v) { return std::visit(ToJson{}, v.variant()); }

std::string to_json_text(const Value& v) { return to_json(v).dump(); }

Value from_json(const nlohmann::json& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::null();
    case nlohmann::json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::json::value_t::number_integer: return Value(j.get<std::int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.get<std::uint64_t>();
      return u <= static_cast<std::uint64_t>(INT64_MAX) ? Value(static_cast<std::int64_t>(u)) : Value(static_cast<double>(u));
    }
    case nlohmann::json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::json::value_t::array: {
      Array a;
      a.reserve(j.size());
      for (const auto& e : j) a.push_back(from_json(e));
      return Value(std::move(a));
    }
    case nlohmann::json::value_t::object: {
      Object o;
      for (auto it = j.begin(); it != j.end(); ++it) o.emplace(it.key(), from_json(it.value()));
      return Value(std::move(o));
    }
    case nlohmann::json::value_t::binary: {
      const auto& b = j.get_binary();
      return Value(Bytes(b.begin(), b.end()));
    }
    default: return Value::none();
  }
}

std::string RecordId::to_string() const {
  if (key->is<std::string>()) {
    const auto& k = key->get<std::string>();
    if (plain_key(k)) return table + ":" + k;
    std::string escaped;
    for (std::size_t i = 0; i < k.size(); ++i) {
      if (k.compare(i, 3, "\xe2\x9f\xa9") == 0) escaped += '\\';  // ⟩ inside ⟨…⟩ is escaped
      escaped += k[i];
    }
    return table + ":\xe2\x9f\xa8" + escaped + "\xe2\x9f\xa9";  // ⟨…⟩
  }
  return table + ":" + key_text(*key);
}

}  // namespace cortex::storage
