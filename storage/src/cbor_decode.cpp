// CBOR decoding of untrusted bytes into Value. Every count is checked against the bytes that remain
// before anything is reserved, so a 5-byte frame claiming 2^60 items fails instead of allocating.
#include <cmath>
#include <cstring>

#include "cortex/storage/cbor.hpp"
#include "cortex/storage/error.hpp"
#include "temporal.hpp"

namespace cortex::storage::cbor {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw Error(make_error_code(Errc::decode_error), "malformed CBOR: " + what);
}

struct Head {
  unsigned major;
  unsigned info;
  std::uint64_t arg;
  bool indefinite;
};

class Decoder {
 public:
  Decoder(std::string_view in, std::size_t max_depth) : p_(in.data()), end_(in.data() + in.size()), max_(max_depth) {}

  Value item(std::size_t depth) {
    if (depth > max_) fail("nesting deeper than " + std::to_string(max_));
    const Head h = head();
    switch (h.major) {
      case 0:
        if (h.arg > static_cast<std::uint64_t>(INT64_MAX)) fail("integer beyond the 64-bit signed range");
        return Value(static_cast<std::int64_t>(h.arg));
      case 1:
        if (h.arg > static_cast<std::uint64_t>(INT64_MAX)) fail("integer beyond the 64-bit signed range");
        return Value(-1 - static_cast<std::int64_t>(h.arg));
      case 2: {
        std::string raw = chunks(h, 2);
        return Value(Bytes(raw.begin(), raw.end()));
      }
      case 3: return Value(chunks(h, 3));
      case 4: return Value(array(h, depth));
      case 5: return Value(object(h, depth));
      case 6: return tagged(h.arg, depth);
      default: return simple(h);
    }
  }

  bool at_end() const { return p_ == end_; }

  void map_entries(const std::function<void(std::string_view, Value&&)>& on_entry) {
    const Head h = head();
    if (h.major != 5) fail("top level is not a map");
    if (!h.indefinite && h.arg > left() / 2) fail("map longer than the input");
    for (std::uint64_t i = 0; h.indefinite ? !at_break() : i < h.arg; ++i) {
      const Head k = head();
      if (k.major != 3) fail("map key is not text");
      if (k.indefinite) {
        const std::string key = chunks(k, 3);
        on_entry(key, item(1));
        continue;
      }
      if (k.arg > left()) fail("string longer than the input");
      const std::string_view key(p_, static_cast<std::size_t>(k.arg));  // a view: no copy
      p_ += k.arg;
      on_entry(key, item(1));
    }
  }

 private:
  std::size_t left() const { return static_cast<std::size_t>(end_ - p_); }
  std::uint8_t byte() {
    if (p_ == end_) fail("truncated");
    return static_cast<std::uint8_t>(*p_++);
  }
  std::uint64_t be(int n) {
    if (left() < static_cast<std::size_t>(n)) fail("truncated");
    std::uint64_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<std::uint8_t>(*p_++);
    return v;
  }
  Head head() {
    const std::uint8_t b = byte();
    Head h{static_cast<unsigned>(b >> 5), static_cast<unsigned>(b & 31), 0, false};
    if (h.info < 24) h.arg = h.info;
    else if (h.info <= 27) h.arg = be(1 << (h.info - 24));
    else if (h.info == 31 && h.major >= 2 && h.major <= 5) h.indefinite = true;
    else if (h.info == 31 && h.major == 7) fail("unexpected break");
    else fail("reserved additional information " + std::to_string(h.info));
    return h;
  }
  bool at_break() {
    if (p_ == end_) fail("truncated");
    if (static_cast<std::uint8_t>(*p_) == 0xff) { ++p_; return true; }
    return false;
  }
  std::string chunks(const Head& h, unsigned major) {
    if (!h.indefinite) {
      if (h.arg > left()) fail("string longer than the input");
      std::string s(p_, static_cast<std::size_t>(h.arg));
      p_ += h.arg;
      return s;
    }
    std::string s;
    while (!at_break()) {
      const Head c = head();
      if (c.major != major || c.indefinite) fail("bad chunk in indefinite string");
      s += chunks(c, major);
    }
    return s;
  }
  Array array(const Head& h, std::size_t depth) {
    Array a;
    if (h.indefinite) {
      while (!at_break()) a.push_back(item(depth + 1));
      return a;
    }
    if (h.arg > left()) fail("array longer than the input");
    a.reserve(static_cast<std::size_t>(h.arg));
    for (std::uint64_t i = 0; i < h.arg; ++i) a.push_back(item(depth + 1));
    return a;
  }
  Object object(const Head& h, std::size_t depth) {
    Object o;
    if (!h.indefinite && h.arg > left() / 2) fail("map longer than the input");
    for (std::uint64_t i = 0; h.indefinite ? !at_break() : i < h.arg; ++i) {
      Value k = item(depth + 1);
      if (!k.is<std::string>()) fail(std::string("map key is ") + k.type_name() + ", not text");
      Value v = item(depth + 1);
      o.insert_or_assign(std::move(k.get<std::string>()), std::move(v));
    }
    return o;
  }
  Value simple(const Head& h) {
    switch (h.info) {
      case 20: return Value(false);
      case 21: return Value(true);
      case 22: return Value::null();
      case 23: return Value::none();  // undefined is NONE to SurrealDB
      case 25: return Value(half(static_cast<std::uint16_t>(h.arg)));
      case 26: { std::uint32_t b = static_cast<std::uint32_t>(h.arg); float f; std::memcpy(&f, &b, 4); return Value(double{f}); }
      case 27: { std::uint64_t b = h.arg; double d; std::memcpy(&d, &b, 8); return Value(d); }
      default: fail("unsupported simple value " + std::to_string(h.info < 24 ? h.info : h.arg));
    }
  }
  static double half(std::uint16_t h) {
    const int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v = exp == 0 ? std::ldexp(mant, -24) : exp != 31 ? std::ldexp(mant + 1024, exp - 25) : mant == 0 ? INFINITY : NAN;
    return (h & 0x8000) ? -v : v;
  }
  std::string text_payload(std::size_t depth, const char* what) {
    Value v = item(depth + 1);
    if (!v.is<std::string>()) fail(std::string(what) + " payload is not text");
    return std::move(v.get<std::string>());
  }
  Array pair_payload(std::size_t depth, const char* what) {
    Value v = item(depth + 1);
    if (!v.is<Array>() || v.get<Array>().size() != 2) fail(std::string(what) + " payload is not a 2-item array");
    return std::move(v.get<Array>());
  }
  Bound bound(Value v) {
    Bound b;
    if (v.is_null() || v.is_none()) return b;
    if (!v.is<Range>()) fail("range bound is not null or a bound tag");
    // item() returns a bound-wrapper as a one-sided Range; unwrap it (see tagged()).
    return std::move(v.get<Range>().begin);
  }
  Value tagged(std::uint64_t tag, std::size_t depth) {
    switch (tag) {
      case 0: return Value(parse_rfc3339(text_payload(depth, "datetime")));
      case 6: item(depth + 1); return Value::none();
      case 7: return Value(Table{text_payload(depth, "table")});
      case 8: {
        Value v = item(depth + 1);
        if (v.is<std::string>()) {
          const auto& s = v.get<std::string>();
          const auto colon = s.find(':');
          if (colon == std::string::npos) fail("record id text has no ':'");
          return Value(RecordId{s.substr(0, colon), Value(s.substr(colon + 1))});
        }
        if (!v.is<Array>() || v.get<Array>().size() != 2 || !v.get<Array>()[0].is<std::string>()) {
          fail("record id is not [table, key]");
        }
        auto& a = v.get<Array>();
        return Value(RecordId{std::move(a[0].get<std::string>()), std::move(a[1])});
      }
      case 9: return Value(Uuid::parse(text_payload(depth, "uuid")));
      case 10: return Value(Decimal{text_payload(depth, "decimal")});
      case 12: {
        Array a = pair_payload(depth, "datetime");
        if (!a[0].is<std::int64_t>() || !a[1].is<std::int64_t>()) fail("datetime parts are not integers");
        const auto n = a[1].get<std::int64_t>();
        if (n < 0 || n > 999999999) fail("datetime nanoseconds out of range");
        return Value(Datetime{a[0].get<std::int64_t>(), static_cast<std::uint32_t>(n)});
      }
      case 13: return Value(parse_duration(text_payload(depth, "duration")));
      case 14: {
        Value v = item(depth + 1);
        if (!v.is<Array>() || v.get<Array>().size() > 2) fail("duration is not [secs?, nanos?]");
        Duration d;
        const auto& a = v.get<Array>();
        for (std::size_t i = 0; i < a.size(); ++i) {
          if (!a[i].is<std::int64_t>() || a[i].get<std::int64_t>() < 0) fail("duration part is not a non-negative integer");
        }
        if (!a.empty()) d.seconds = static_cast<std::uint64_t>(a[0].get<std::int64_t>());
        if (a.size() == 2) {
          if (a[1].get<std::int64_t>() > 999999999) fail("duration nanoseconds out of range");
          d.nanos = static_cast<std::uint32_t>(a[1].get<std::int64_t>());
        }
        return Value(d);
      }
      case 37: {
        Value v = item(depth + 1);
        if (v.is<std::string>()) return Value(Uuid::parse(v.get<std::string>()));
        if (!v.is<Bytes>() || v.get<Bytes>().size() != 16) fail("uuid is not 16 bytes");
        Uuid u;
        std::memcpy(u.bytes.data(), v.get<Bytes>().data(), 16);
        return Value(u);
      }
      case 49: {
        Array a = pair_payload(depth, "range");
        return Value(Range{bound(std::move(a[0])), bound(std::move(a[1]))});
      }
      case 50: case 51: {
        Range r;  // a lone bound, carried as a one-sided Range until bound() unwraps it
        r.begin.kind = tag == 50 ? Bound::Kind::included : Bound::Kind::excluded;
        r.begin.value = item(depth + 1);
        return Value(std::move(r));
      }
      case 55: {
        Array a = pair_payload(depth, "file");
        if (!a[0].is<std::string>() || !a[1].is<std::string>()) fail("file parts are not text");
        return Value(FileRef{std::move(a[0].get<std::string>()), std::move(a[1].get<std::string>())});
      }
      case 56: {
        Value v = item(depth + 1);
        if (!v.is<Array>()) fail("set is not an array");
        return Value(Set{std::move(v.get<Array>())});
      }
      default:
        if (tag >= 88 && tag <= 94) return Value(Geometry{tag, item(depth + 1)});
        fail("unknown tag " + std::to_string(tag));
    }
  }

  const char* p_;
  const char* end_;
  std::size_t max_;
};

}  // namespace

void decode_map(std::string_view bytes, const std::function<void(std::string_view, Value&&)>& on_entry,
                const DecodeOptions& options) {
  Decoder d(bytes, options.max_depth);
  d.map_entries(on_entry);
  if (!d.at_end()) fail("trailing bytes after the item");
}

Value decode(std::string_view bytes, const DecodeOptions& options) {
  Decoder d(bytes, options.max_depth);
  Value v = d.item(0);
  if (!d.at_end()) fail("trailing bytes after the item");
  return v;
}

}  // namespace cortex::storage::cbor
