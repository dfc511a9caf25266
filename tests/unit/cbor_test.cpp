// CBOR codec: round trips of every SurrealDB type (nested too), exact bytes for the tags the
// server depends on, and malformed input that must fail cleanly.
#include <gtest/gtest.h>

#include "cortex/storage/cbor.hpp"
#include "cortex/storage/error.hpp"

using namespace cortex::storage;

namespace {

Value round_trip(const Value& v) { return cbor::decode(cbor::encode(v)); }

std::string hex(const std::string& s) {
  static const char* d = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) { out += d[c >> 4]; out += d[c & 15]; }
  return out;
}

std::string unhex(const std::string& h) {
  std::string out;
  for (std::size_t i = 0; i + 1 < h.size(); i += 2) out += static_cast<char>(std::stoi(h.substr(i, 2), nullptr, 16));
  return out;
}

void expect_decode_error(const std::string& bytes, const std::string& fragment) {
  try {
    cbor::decode(bytes);
    FAIL() << "decoded " << hex(bytes) << " without error";
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), cortex::make_error_code(cortex::Errc::decode_error));
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

Value every_type() {
  Range r;
  r.begin.kind = Bound::Kind::included;
  r.begin.value = Value(1);
  r.end.kind = Bound::Kind::excluded;
  r.end.value = Value(10);
  Range open;  // both bounds unbounded
  return Value(Object{
      {"none", Value::none()},
      {"null", Value::null()},
      {"bool", Value(true)},
      {"int", Value(-1234567890123LL)},
      {"max", Value(static_cast<long long>(INT64_MAX))},
      {"min", Value(static_cast<long long>(INT64_MIN))},
      {"float", Value(3.25)},
      {"decimal", Value(Decimal{"12345678901234567890.123"})},
      {"string", Value("héllo")},
      {"bytes", Value(Bytes{0, 1, 255})},
      {"array", Value(Array{Value(1), Value("two"), Value(Array{Value::none()})})},
      {"record_int", record("person", Value(42))},
      {"record_text", record("person", Value("tobie"))},
      {"record_array", record("temp", Value(Array{Value("london"), Value(Datetime{1700000000, 5})}))},
      {"record_object", record("t", Value(Object{{"a", Value(1)}}))},
      {"record_uuid", record("t", Value(Uuid::random()))},
      {"record_range", record("t", Value(r))},
      {"table", Value(Table{"person"})},
      {"uuid", Value(Uuid::parse("0190d0b0-0000-7000-8000-000000000001"))},
      {"datetime", Value(Datetime{-86400, 999999999})},
      {"duration", Value(Duration{5400, 0})},
      {"duration_zero", Value(Duration{0, 0})},
      {"duration_nanos", Value(Duration{1, 500})},
      {"range", Value(r)},
      {"range_open", Value(open)},
      {"set", Value(Set{{Value(1), Value(2)}})},
      {"point", Value(Geometry{88, Value(Array{Value(1.5), Value(2.5)})})},
      {"collection", Value(Geometry{94, Value(Array{Value(Geometry{88, Value(Array{Value(0.0), Value(0.0)})})})})},
      {"file", Value(FileRef{"bucket", "/a/b.txt"})},
  });
}

}  // namespace

TEST(Cbor, EveryTypeRoundTripsWithItsType) {
  const Value v = every_type();
  const Value back = round_trip(v);
  EXPECT_EQ(back, v);
  for (const auto& [k, item] : v.get<Object>()) {
    EXPECT_STREQ(back[k].type_name(), item.type_name()) << k;
  }
}

TEST(Cbor, NestedDeeplyButWithinLimitRoundTrips) {
  Value v(1);
  for (int i = 0; i < 120; ++i) v = Value(Array{Value(Object{{"x", v}})});  // depth 240 of 256
  EXPECT_EQ(round_trip(v), v);
}

TEST(Cbor, NoneAndNullStayDistinct) {
  EXPECT_EQ(hex(cbor::encode(Value::none())), "c6f6");
  EXPECT_EQ(hex(cbor::encode(Value::null())), "f6");
  EXPECT_TRUE(cbor::decode(unhex("c6f6")).is_none());
  EXPECT_TRUE(cbor::decode(unhex("f6")).is_null());
  EXPECT_TRUE(cbor::decode(unhex("f7")).is_none());  // undefined is NONE to SurrealDB
  EXPECT_NE(Value::none(), Value::null());
}

TEST(Cbor, WireFormsMatchProtocol) {
  EXPECT_EQ(hex(cbor::encode(Value(Table{"t"}))), "c76174");
  EXPECT_EQ(hex(cbor::encode(record("t", Value(1)))), "c882617401");
  EXPECT_EQ(hex(cbor::encode(Value(Datetime{1, 2}))), "cc820102");
  EXPECT_EQ(hex(cbor::encode(Value(Duration{0, 0}))), "ce80");
  EXPECT_EQ(hex(cbor::encode(Value(Duration{3, 0}))), "ce8103");
  EXPECT_EQ(hex(cbor::encode(Value(Decimal{"1.5"}))), "ca63312e35");
  EXPECT_EQ(hex(cbor::encode(Value(-1))), "20");
  // Each width of a head's argument (RFC 8949 §3), and a double whatever its bits.
  EXPECT_EQ(hex(cbor::encode(Value(23))), "17");
  EXPECT_EQ(hex(cbor::encode(Value(24))), "1818");
  EXPECT_EQ(hex(cbor::encode(Value(256))), "190100");
  EXPECT_EQ(hex(cbor::encode(Value(65536))), "1a00010000");
  EXPECT_EQ(hex(cbor::encode(Value(std::int64_t{1} << 32))), "1b0000000100000000");
  EXPECT_EQ(hex(cbor::encode(Value(-257))), "390100");
  EXPECT_EQ(hex(cbor::encode(Value(0.0))), "fb0000000000000000");
  EXPECT_EQ(hex(cbor::encode(Value(1.5))), "fb3ff8000000000000");
  EXPECT_EQ(hex(cbor::encode(Value(Uuid::parse("00000000-0000-0000-0000-000000000001")))),
            "d8255000000000000000000000000000000001");
}

TEST(Cbor, AcceptsTheServersAlternativeForms) {
  // 8("tb:key"), 9("uuid"), 13("1h30m"), 0("rfc3339"), 37(text), half and single floats.
  const Value rid = cbor::decode(unhex("c8" "66" + hex("tb:key")));
  ASSERT_TRUE(rid.is<RecordId>());
  EXPECT_EQ(rid.get<RecordId>().table, "tb");
  EXPECT_EQ(*rid.get<RecordId>().key, Value("key"));
  const std::string u = "0190d0b0-0000-7000-8000-000000000001";
  EXPECT_EQ(cbor::decode(unhex("c9" "7824" + hex(u))), Value(Uuid::parse(u)));
  EXPECT_EQ(cbor::decode(unhex("cd" "65" + hex("1h30m"))), Value(Duration{5400, 0}));
  EXPECT_EQ(cbor::decode(unhex("c0" "74" + hex("1970-01-02T00:00:00Z"))), Value(Datetime{86400, 0}));
  EXPECT_EQ(cbor::decode(unhex("f93c00")), Value(1.0));
  EXPECT_EQ(cbor::decode(unhex("fa3fc00000")), Value(1.5));
  EXPECT_EQ(cbor::decode(unhex("9f0102ff")), Value(Array{Value(1), Value(2)}));  // indefinite array
}

TEST(Cbor, RejectsTruncatedInput) {
  const std::string full = cbor::encode(every_type());
  for (std::size_t n = 0; n < full.size(); n += 7) {
    expect_decode_error(full.substr(0, n), "");
  }
  expect_decode_error(unhex("830102"), "longer than the input");
  expect_decode_error(unhex("1901"), "truncated");
}

// 2.x futures (tag 15) and tags no version of this client models decode to Tagged and re-encode
// byte-identically, non-shortest heads included; they compare by tag and content.
TEST(Cbor, UnknownTagsDecodeToTaggedAndReencodeByteIdentically) {
  for (const char* hex : {"cf6b7b2072657475726e20317d",  // 15("{ return 1}"): a 2.x future
                          "c101", "d8ff8201f6", "d9ffff18ff",  // tag 1; tag 255 [1, null]; a non-shortest 255
                          "db000000010000000082c6f6cf01"}) {  // a 64-bit tag around [NONE, 15(1)]
    const std::string bytes = unhex(hex);
    const Value v = cbor::decode(bytes);
    ASSERT_TRUE(v.is<Tagged>()) << hex << " decoded to " << v.type_name();
    EXPECT_EQ(cbor::encode(v), bytes) << hex;
    EXPECT_STREQ(v.type_name(), "tagged");
  }
  const Value future = cbor::decode(unhex("cf6b7b2072657475726e20317d"));
  EXPECT_EQ(future.get<Tagged>().tag, 15u);
  EXPECT_EQ(*future.get<Tagged>().value, Value("{ return 1}"));
  // Built by hand, it encodes as the tag around its value; equal to the decoded one.
  const Value built = Tagged{15, Value("{ return 1}"), {}};
  EXPECT_EQ(cbor::encode(built), unhex("cf6b7b2072657475726e20317d"));
  EXPECT_EQ(built, future);
  EXPECT_NE(built, Value(Tagged{16, Value("{ return 1}"), {}}));
  // The content is held to the same rules as any value.
  expect_decode_error(unhex("cf61ff"), "UTF-8");
}

TEST(Cbor, RejectsNonTextMapKeys) { expect_decode_error(unhex("a10102"), "map key is int"); }

TEST(Cbor, RejectsAbsurdLengthsWithoutAllocating) {
  expect_decode_error(unhex("9b0fffffffffffffff"), "longer than the input");   // array of 2^60
  expect_decode_error(unhex("bb0fffffffffffffff"), "longer than the input");   // map of 2^60
  expect_decode_error(unhex("5b0fffffffffffffff00"), "longer than the input"); // bytes of 2^60
  expect_decode_error(unhex("7a7fffffff"), "longer than the input");           // text of 2 GiB
}

TEST(Cbor, RejectsVeryDeepNesting) {
  expect_decode_error(std::string(100000, '\x81') + '\x01', "nesting deeper");
  expect_decode_error(std::string(100000, '\xc6') + '\xf6', "nesting deeper");
}

TEST(Cbor, RejectsMalformedTagPayloads) {
  expect_decode_error(unhex("d8254101"), "uuid is not 16 bytes");
  expect_decode_error(unhex("c801"), "record id");
  expect_decode_error(unhex("cc8101"), "2-item array");
  expect_decode_error(unhex("0102"), "trailing bytes");
  expect_decode_error(unhex("1bffffffffffffffff"), "64-bit signed range");
  expect_decode_error(unhex("ff"), "unexpected break");
}

TEST(Cbor, DecodeMapVisitsEntriesInOrder) {
  const std::string bytes = cbor::encode(Value(Object{{"id", Value(7)}, {"result", Value(Array{Value(1)})}}));
  std::vector<std::string> keys;
  Value result;
  cbor::decode_map(bytes, [&](std::string_view k, Value&& v) {
    keys.emplace_back(k);
    if (k == "result") result = std::move(v);
  });
  EXPECT_EQ(keys, (std::vector<std::string>{"id", "result"}));
  EXPECT_EQ(result, Value(Array{Value(1)}));
  auto nothing = [](std::string_view, Value&&) {};
  EXPECT_THROW(cbor::decode_map(unhex("8101"), nothing), cortex::Error);
  EXPECT_THROW(cbor::decode_map(unhex("a10102"), nothing), cortex::Error);
  EXPECT_THROW(cbor::decode_map(unhex("a1617801ff"), nothing), cortex::Error);
}
