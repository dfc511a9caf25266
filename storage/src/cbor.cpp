// CBOR codec. Tag numbers from docs/protocol.md §3; decoding is defensive because the bytes come off the
// network: every length is checked against the bytes that remain before anything is allocated.
#include "cortex/storage/cbor.hpp"

#include <cstring>

#include "cortex/storage/error.hpp"

namespace cortex::storage::cbor {
namespace {

enum Tag : std::uint64_t {
  kDatetimeText = 0, kNone = 6, kTable = 7, kRecordId = 8, kUuidText = 9, kDecimal = 10, kDatetime = 12,
  kDurationText = 13, kDuration = 14, kUuid = 37, kRange = 49, kIncluded = 50, kExcluded = 51, kFile = 55,
  kSet = 56, kGeoFirst = 88, kGeoLast = 94,
};

/// `first`, then the low `bytes` bytes of v, big-endian: built in place and appended at once
/// (requests are encoded on every call).
void append_be(std::string& out, char first, std::uint64_t v, int bytes) {
  char buf[9];
  buf[0] = first;
  for (int i = 0; i < bytes; ++i) buf[1 + i] = static_cast<char>((v >> (8 * (bytes - 1 - i))) & 0xff);
  out.append(buf, static_cast<std::size_t>(1 + bytes));
}

}  // namespace

void write_head(std::string& out, unsigned major, std::uint64_t arg) {
  const auto m = static_cast<char>(major << 5);
  if (arg < 24) return out.push_back(static_cast<char>(m | static_cast<char>(arg)));
  if (arg <= 0xff) return append_be(out, static_cast<char>(m | 24), arg, 1);
  if (arg <= 0xffff) return append_be(out, static_cast<char>(m | 25), arg, 2);
  if (arg <= 0xffffffffULL) return append_be(out, static_cast<char>(m | 26), arg, 4);
  append_be(out, static_cast<char>(m | 27), arg, 8);
}

void write_text(std::string& out, std::string_view s) {
  write_head(out, 3, s.size());
  out.append(s.data(), s.size());
}

void write_int(std::string& out, std::int64_t v) {
  if (v >= 0) write_head(out, 0, static_cast<std::uint64_t>(v));
  else write_head(out, 1, static_cast<std::uint64_t>(-(v + 1)));
}

namespace {

struct Encoder {
  std::string& out;

  void tag(std::uint64_t t) { write_head(out, 6, t); }
  void bound(const Bound& b) {
    if (b.kind == Bound::Kind::unbounded) { out.push_back(static_cast<char>(0xf6)); return; }
    tag(b.kind == Bound::Kind::included ? kIncluded : kExcluded);
    (*this)(*b.value);
  }

  void operator()(const Value& v) { std::visit(*this, v.variant()); }
  void operator()(const None&) { tag(kNone); out.push_back(static_cast<char>(0xf6)); }
  void operator()(const Null&) { out.push_back(static_cast<char>(0xf6)); }
  void operator()(bool b) { out.push_back(static_cast<char>(b ? 0xf5 : 0xf4)); }
  void operator()(std::int64_t i) { write_int(out, i); }
  void operator()(double d) {
    std::uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    append_be(out, static_cast<char>(0xfb), bits, 8);
  }
  void operator()(const Decimal& d) { tag(kDecimal); write_text(out, d.text); }
  void operator()(const std::string& s) { write_text(out, s); }
  void operator()(const Bytes& b) {
    write_head(out, 2, b.size());
    out.append(reinterpret_cast<const char*>(b.data()), b.size());
  }
  void operator()(const Array& a) {
    write_head(out, 4, a.size());
    for (const auto& e : a) (*this)(e);
  }
  void operator()(const Object& o) {
    write_head(out, 5, o.size());
    for (const auto& [k, e] : o) { write_text(out, k); (*this)(e); }
  }
  void operator()(const RecordId& r) {
    tag(kRecordId);
    write_head(out, 4, 2);
    write_text(out, r.table);
    (*this)(*r.key);
  }
  void operator()(const Table& t) { tag(kTable); write_text(out, t.name); }
  void operator()(const Uuid& u) {
    tag(kUuid);
    write_head(out, 2, 16);
    out.append(reinterpret_cast<const char*>(u.bytes.data()), 16);
  }
  void operator()(const Datetime& d) {
    tag(kDatetime);
    write_head(out, 4, 2);
    write_int(out, d.seconds);
    write_int(out, d.nanos);
  }
  void operator()(const Duration& d) {
    tag(kDuration);  // the shortest form, as the server sends it
    const int n = d.nanos ? 2 : d.seconds ? 1 : 0;
    write_head(out, 4, n);
    if (n >= 1) write_head(out, 0, d.seconds);
    if (n == 2) write_head(out, 0, d.nanos);
  }
  void operator()(const Range& r) {
    tag(kRange);
    write_head(out, 4, 2);
    bound(r.begin);
    bound(r.end);
  }
  void operator()(const Set& s) { tag(kSet); (*this)(s.items); }
  void operator()(const Geometry& g) { tag(g.tag); (*this)(*g.data); }
  void operator()(const FileRef& f) {
    tag(kFile);
    write_head(out, 4, 2);
    write_text(out, f.bucket);
    write_text(out, f.key);
  }
  void operator()(const Tagged& t) {
    if (!t.raw.empty()) {
      out += t.raw;
      return;
    }
    tag(t.tag);
    (*this)(*t.value);
  }
};

}  // namespace

void encode(const Value& v, std::string& out) { Encoder{out}(v); }

std::string encode(const Value& v) {
  std::string out;
  encode(v, out);
  return out;
}

}  // namespace cortex::storage::cbor
