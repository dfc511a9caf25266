// CBOR decoding of untrusted bytes into Value. Every count is checked against the bytes that remain
// before anything is reserved, so a 5-byte frame claiming 2^60 items fails instead of allocating;
// reservations are capped too (200 nested arrays each claiming 2^20 items reserve nothing large),
// and the decoded form is charged against a budget proportional to the input. Strict: text is
// UTF-8, map keys are unique, tagged payloads are well-formed.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "cortex/storage/cbor.hpp"
#include "cortex/storage/error.hpp"
#include "temporal.hpp"

namespace cortex::storage::cbor {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw Error(make_error_code(Errc::decode_error), "malformed CBOR: " + what);
}

/// Server text echoed in an error message: cut, so a hostile megabyte is not copied into it.
std::string echo(std::string_view s) {
  return s.size() <= 64 ? std::string(s) : std::string(s.substr(0, 64)) + "…";
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

/// [+-]digits[.digits][(e|E)[+-]digits], at least one digit before the exponent (rust_decimal's text).
bool valid_decimal(std::string_view s) {
  std::size_t i = 0, digits = 0;
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  for (; i < s.size() && is_digit(s[i]); ++i) ++digits;
  if (i < s.size() && s[i] == '.') {
    for (++i; i < s.size() && is_digit(s[i]); ++i) ++digits;
  }
  if (digits == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const std::size_t e0 = i;
    for (; i < s.size() && is_digit(s[i]); ++i) {
    }
    if (i == e0) return false;
  }
  return i == s.size();
}

struct Head {
  unsigned major;
  unsigned info;
  std::uint64_t arg;
  bool indefinite;
};

class Decoder {
 public:
  Decoder(std::string_view in, const DecodeOptions& o)
      : p_(in.data()), end_(in.data() + in.size()), max_(o.max_depth),
        budget_(std::max(o.min_budget, in.size() > SIZE_MAX / std::max<std::size_t>(o.max_amplification, 1)
                                           ? SIZE_MAX
                                           : in.size() * o.max_amplification)) {}

  Value item(std::size_t depth) {
    if (depth > max_) fail("nesting deeper than " + std::to_string(max_));
    charge(sizeof(Value));
    const char* const start = p_;  // for a tag not modelled: its bytes as received
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
      case 6: return tagged(h.arg, depth, start);
      default: return simple(h);
    }
  }

  bool at_end() const { return p_ == end_; }

  void map_entries(const std::function<void(std::string_view, Value&&)>& on_entry) {
    const Head h = head();
    if (h.major != 5) fail("top level is not a map");
    if (!h.indefinite && h.arg > left() / 2) fail("map longer than the input");
    // Keys seen so far, to refuse duplicates (an envelope with two ids): views into the input, or
    // into `owned` for indefinite-length keys. Envelopes have a handful of keys: a linear scan,
    // over a few kept in place (no allocation per frame) and the rest in `more`.
    std::array<std::string_view, 6> first;
    std::size_t n_first = 0;
    std::vector<std::string_view> more;
    std::vector<std::string> owned;
    for (std::uint64_t i = 0; h.indefinite ? !at_break() : i < h.arg; ++i) {
      const Head k = head();
      if (k.major != 3) fail("map key is not text");
      std::string_view key;
      if (k.indefinite) {
        owned.push_back(chunks(k, 3));
        key = owned.back();
      } else {
        if (k.arg > left()) fail("string longer than the input");
        key = std::string_view(p_, static_cast<std::size_t>(k.arg));  // a view: no copy
        p_ += k.arg;
        if (!valid_utf8(key)) fail("map key is not UTF-8");
      }
      const auto duplicate = [&](std::string_view s) { return s == key; };
      if (std::any_of(first.begin(), first.begin() + static_cast<std::ptrdiff_t>(n_first), duplicate) ||
          std::any_of(more.begin(), more.end(), duplicate)) {
        fail("duplicate map key '" + echo(key) + "'");
      }
      if (n_first < first.size()) first[n_first++] = key;
      else more.push_back(key);
      on_entry(key, item(1));
    }
  }

  /// Walks one item without building it (for peek_id): the same checks of lengths and depth.
  void skip(std::size_t depth) {
    if (depth > max_) fail("nesting deeper than " + std::to_string(max_));
    const Head h = head();
    switch (h.major) {
      case 2:
      case 3:
        if (h.indefinite) {
          while (!at_break()) skip(depth + 1);
        } else {
          if (h.arg > left()) fail("string longer than the input");
          p_ += h.arg;
        }
        return;
      case 4:
      case 5: {
        const std::uint64_t per = h.major == 5 ? 2 : 1;
        if (h.indefinite) {
          while (!at_break()) skip(depth + 1);
          return;
        }
        if (h.arg > left() / per) fail("container longer than the input");
        for (std::uint64_t i = 0; i < h.arg * per; ++i) skip(depth + 1);
        return;
      }
      case 6: return skip(depth + 1);
      default: return;
    }
  }

  std::optional<std::int64_t> find_id() {
    const Head h = head();
    if (h.major != 5 || h.indefinite || h.arg > left() / 2) return std::nullopt;
    for (std::uint64_t i = 0; i < h.arg; ++i) {
      const Head k = head();
      if (k.major != 3 || k.indefinite || k.arg > left()) return std::nullopt;
      const std::string_view key(p_, static_cast<std::size_t>(k.arg));
      p_ += k.arg;
      if (key == "id") {
        const Head v = head();
        if (v.major == 0 && v.arg <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(v.arg);
        return std::nullopt;
      }
      skip(1);
    }
    return std::nullopt;
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
  void charge(std::size_t n) {
    used_ += n;
    if (used_ > budget_) {
      // Not malformed: larger than this client accepts. Its own code, so that the connection layer
      // does not count a big (well-formed) reply against the server that sent it.
      const std::string budget = budget_ >= (std::size_t{1} << 20) ? std::to_string(budget_ >> 20) + " MiB"
                                                                      : std::to_string(budget_) + " bytes";
      throw Error(make_error_code(Errc::reply_too_large),
                  "the decoded value would take over " + budget +
                      " (DecodeOptions::max_amplification times the input, at least min_budget)");
    }
  }
  std::string chunks(const Head& h, unsigned major) {
    if (!h.indefinite) {  // the common case: the string is made straight from the input
      if (h.arg > left()) fail("string longer than the input");
      charge(static_cast<std::size_t>(h.arg));
      const std::string_view view(p_, static_cast<std::size_t>(h.arg));
      if (major == 3 && !valid_utf8(view)) fail("text is not UTF-8");
      p_ += h.arg;
      return std::string(view);
    }
    std::string s;
    while (!at_break()) {
      const Head c = head();
      if (c.major != major || c.indefinite) fail("bad chunk in indefinite string");
      if (c.arg > left()) fail("string longer than the input");
      charge(static_cast<std::size_t>(c.arg));
      s.append(p_, static_cast<std::size_t>(c.arg));
      p_ += c.arg;
    }
    if (major == 3 && !valid_utf8(s)) fail("text is not UTF-8");
    return s;
  }
  // Never reserve more than this many items up front: a count is only a claim until the items are
  // read (nested claims would multiply); beyond it the vector grows as items arrive.
  static constexpr std::uint64_t kReserveCap = 1024;
  Array array(const Head& h, std::size_t depth) {
    Array a;
    if (h.indefinite) {
      while (!at_break()) a.push_back(item(depth + 1));
      return a;
    }
    if (h.arg > left()) fail("array longer than the input");
    a.reserve(static_cast<std::size_t>(std::min(h.arg, kReserveCap)));
    for (std::uint64_t i = 0; i < h.arg; ++i) a.push_back(item(depth + 1));
    return a;
  }
  Object object(const Head& h, std::size_t depth) {
    Object o;
    if (!h.indefinite && h.arg > left() / 2) fail("map longer than the input");
    for (std::uint64_t i = 0; h.indefinite ? !at_break() : i < h.arg; ++i) {
      std::string key = key_text(depth + 1);
      Value v = item(depth + 1);
      charge(kMapNode);
      // try_emplace leaves the key as it was when it is there already: the message can name it.
      if (!o.try_emplace(std::move(key), std::move(v)).second) fail("duplicate map key '" + echo(key) + "'");
    }
    return o;
  }
  // A map key: text read straight into the key's string (the same checks and charges as item()).
  std::string key_text(std::size_t depth) {
    if (depth > max_) fail("nesting deeper than " + std::to_string(max_));
    charge(sizeof(Value));
    const char* const start = p_;
    const Head h = head();
    if (h.major == 3) return chunks(h, 3);
    p_ = start;  // anything else is decoded whole, so that the message can name its type
    const Value k = item(depth);
    fail(std::string("map key is ") + k.type_name() + ", not text");
  }
  static constexpr std::size_t kMapNode = 48;  // a map node's links and colour, beyond its key and value
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
  Value tagged(std::uint64_t tag, std::size_t depth, const char* start) {
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
      case 9: return Value(uuid_text(text_payload(depth, "uuid")));
      case 10: {
        std::string text = text_payload(depth, "decimal");
        if (!valid_decimal(text)) fail("decimal is not a number: '" + echo(text) + "'");
        return Value(Decimal{std::move(text)});
      }
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
        if (v.is<std::string>()) return Value(uuid_text(v.get<std::string>()));
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
        // 15 (2.x futures) and any tag a newer server may send: kept whole, so that one unknown
        // value fails neither its request nor the socket, and re-encodes as it came.
        Value content = item(depth + 1);
        charge(static_cast<std::size_t>(p_ - start));
        return Value(Tagged{tag, std::move(content), std::string(start, p_)});
    }
  }

  static Uuid uuid_text(const std::string& text) {
    try {
      return Uuid::parse(text);
    } catch (const Error&) {  // the server's malformed text is a decode error, not a bad argument of ours
      fail("uuid is not 8-4-4-4-12 hex digits: '" + echo(text) + "'");
    }
  }

  const char* p_;
  const char* end_;
  std::size_t max_;
  std::size_t budget_;
  std::size_t used_ = 0;
};

}  // namespace

bool valid_utf8(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* const e = p + s.size();
  {  // most text is ASCII: one pass that only ORs the bytes together settles it
    std::uint64_t any = 0;
    const auto* q = p;
    for (; e - q >= 8; q += 8) {
      std::uint64_t w;
      std::memcpy(&w, q, 8);
      any |= w;
    }
    for (; q < e; ++q) any |= *q;
    if ((any & 0x8080808080808080ULL) == 0) return true;
  }
  while (p < e) {
    if (e - p >= 8) {  // ASCII runs eight bytes at a time
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if ((w & 0x8080808080808080ULL) == 0) {
        p += 8;
        continue;
      }
    }
    const unsigned c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int n;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
      n = 1, cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      n = 2, cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      n = 3, cp = c & 0x07;
    } else {
      return false;  // a continuation byte, an overlong lead (C0, C1) or beyond U+10FFFF (F5…)
    }
    if (e - p <= n) return false;
    for (int i = 1; i <= n; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) return false;  // overlong, surrogate
    if (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) return false;
    p += n + 1;
  }
  return true;
}

std::optional<std::int64_t> peek_id(std::string_view bytes) noexcept {
  try {
    Decoder d(bytes, DecodeOptions{});
    return d.find_id();
  } catch (...) {
    return std::nullopt;
  }
}

void decode_map(std::string_view bytes, const std::function<void(std::string_view, Value&&)>& on_entry,
                const DecodeOptions& options) {
  Decoder d(bytes, options);
  d.map_entries(on_entry);
  if (!d.at_end()) fail("trailing bytes after the item");
}

Value decode(std::string_view bytes, const DecodeOptions& options) {
  Decoder d(bytes, options);
  Value v = d.item(0);
  if (!d.at_end()) fail("trailing bytes after the item");
  return v;
}

}  // namespace cortex::storage::cbor
