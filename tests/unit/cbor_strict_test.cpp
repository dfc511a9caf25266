// The decoder's strictness and bounds (issue #11's laxness list, one case each): UTF-8, tagged
// payloads, duplicate keys, length claims, the decode budget — while what held before still holds.
#include <gtest/gtest.h>

#include <string>

#include "cortex/storage/cbor.hpp"
#include "cortex/storage/error.hpp"

using namespace cortex::storage;
using cortex::Errc;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

std::string text_item(const std::string& t) {
  std::string out;
  cbor::write_text(out, t);
  return out;
}

/// The decode error code (empty when it decoded).
std::error_code decode_error_of(const std::string& in, const cbor::DecodeOptions& o = {}) {
  try {
    cbor::decode(in, o);
  } catch (const cortex::Error& e) {
    return e.code();
  }
  return {};
}

const std::error_code kDecodeError = cortex::make_error_code(Errc::decode_error);

}  // namespace

TEST(CborStrict, TextMustBeUtf8) {
  EXPECT_EQ(decode_error_of(bytes({0x63, 'a', 0xff, 'b'})), kDecodeError);             // not a lead byte
  EXPECT_EQ(decode_error_of(bytes({0x62, 0xc0, 0x80})), kDecodeError);                 // overlong NUL
  EXPECT_EQ(decode_error_of(bytes({0x63, 0xed, 0xa0, 0x80})), kDecodeError);           // a surrogate
  EXPECT_EQ(decode_error_of(bytes({0x64, 0xf4, 0x90, 0x80, 0x80})), kDecodeError);     // beyond U+10FFFF
  EXPECT_EQ(decode_error_of(bytes({0x62, 0xe2, 0x82})), kDecodeError);                 // truncated sequence
  EXPECT_EQ(decode_error_of(bytes({0x7f, 0x61, 0xff, 0xff})), kDecodeError);           // indefinite, bad chunk
  EXPECT_EQ(cbor::decode(text_item("é € 😀 plain ascii text")).get<std::string>(), "é € 😀 plain ascii text");
  // The id-less error frame that aborted the process: {"error": "\xff"}.
  EXPECT_EQ(decode_error_of(bytes({0xa1, 0x65, 'e', 'r', 'r', 'o', 'r', 0x61, 0xff})), kDecodeError);
  // Map keys too, on the envelope path.
  const auto bad_key = bytes({0xa1, 0x61, 0xff, 0x01});
  EXPECT_THROW(cbor::decode_map(bad_key, [](std::string_view, Value&&) {}), cortex::Error);
  EXPECT_TRUE(cbor::valid_utf8("ok"));
  EXPECT_FALSE(cbor::valid_utf8(std::string("12345678\xff", 9)));  // after an ASCII run of eight
}

TEST(CborStrict, DatetimeTextFieldsAreExactDigits) {
  auto dt = [](const std::string& t) { return std::string{static_cast<char>(0xc0)} + text_item(t); };
  EXPECT_EQ(decode_error_of(dt("-001-01-01T00:00:00Z")), kDecodeError);       // a negative year
  EXPECT_EQ(decode_error_of(dt("2024-01-01T00:00:00+ab:cd")), kDecodeError);  // letters as an offset
  EXPECT_EQ(decode_error_of(dt("2024-01-01T00:00:00+24:00")), kDecodeError);  // an offset out of range
  EXPECT_EQ(decode_error_of(dt("2024-1-01T00:00:00Z")), kDecodeError);
  EXPECT_EQ(decode_error_of(dt("2024-01-01T0 :00:00Z")), kDecodeError);
  EXPECT_EQ(cbor::decode(dt("2024-01-01T01:00:00+01:00")).get<Datetime>().seconds, 1704067200);
}

TEST(CborStrict, UuidTextIsADecodeErrorNotABadArgument) {
  EXPECT_EQ(decode_error_of(std::string{static_cast<char>(0xc9)} + text_item("not-a-uuid")), kDecodeError);
  EXPECT_EQ(decode_error_of(bytes({0xd8, 37}) + text_item("zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz")), kDecodeError);
}

TEST(CborStrict, DurationTextNeverWrapsAndStaysEncodable) {
  auto dur = [](const std::string& t) { return std::string{static_cast<char>(0xcd)} + text_item(t); };
  EXPECT_EQ(decode_error_of(dur("1000000000000y")), kDecodeError);           // wrapped around u64
  EXPECT_EQ(decode_error_of(dur("300000000000y")), kDecodeError);            // ≥ 2^63 s: our encoding refuses it
  EXPECT_EQ(decode_error_of(dur("18446744073709551615ns18446744073709551615ns")), kDecodeError);
  const auto d = cbor::decode(dur("1y2w3d4h5m6s7ms")).get<Duration>();
  EXPECT_EQ(d.seconds, 31536000u + 1209600u + 259200u + 14400u + 300u + 6u);
  EXPECT_EQ(cbor::decode(cbor::encode(Value(d))).get<Duration>().seconds, d.seconds);  // round trip
}

TEST(CborStrict, DecimalTextIsANumber) {
  auto dec = [](const std::string& t) { return std::string{static_cast<char>(0xca)} + text_item(t); };
  for (const char* bad : {"abc", "", "1.2.3", "--1", "1e", ".", "1 ", "0x10"}) EXPECT_EQ(decode_error_of(dec(bad)), kDecodeError) << bad;
  for (const char* good : {"0", "-1.5", "+2", "3.", ".5", "1e10", "-7.25E-3", "12345678901234567890.123456789"}) {
    EXPECT_EQ(cbor::decode(dec(good)).get<Decimal>().text, good);
  }
}

TEST(CborStrict, DuplicateMapKeysAreRefused) {
  EXPECT_EQ(decode_error_of(bytes({0xa2, 0x61, 'a', 0x01, 0x61, 'a', 0x02})), kDecodeError);
  // The envelope with two ids.
  const auto two_ids = bytes({0xa3, 0x62, 'i', 'd', 0x01, 0x62, 'i', 'd', 0x02, 0x66, 'r', 'e', 's', 'u', 'l', 't', 0xf6});
  EXPECT_THROW(cbor::decode_map(two_ids, [](std::string_view, Value&&) {}), cortex::Error);
  EXPECT_EQ(cbor::decode(bytes({0xa2, 0x61, 'a', 0x01, 0x61, 'b', 0x02})).get<Object>().size(), 2u);
}

// The envelope's walk keeps its first keys in place and the rest aside: a duplicate is found in
// either, whichever key repeats.
TEST(CborStrict, DecodeMapRefusesADuplicateAmongManyKeys) {
  for (char repeated : {'a', 'f', 'h'}) {
    std::string frame = bytes({0xa9});  // 9 entries: a..h, then `repeated` again
    for (char k = 'a'; k <= 'h'; ++k) frame += bytes({0x61, k, 0x01});
    frame += bytes({0x61, repeated, 0x02});
    std::string visited;
    EXPECT_THROW(cbor::decode_map(frame, [&](std::string_view key, Value&&) { visited += key; }), cortex::Error) << repeated;
    EXPECT_EQ(visited, "abcdefgh") << repeated;
  }
  std::string distinct = bytes({0xa9});
  for (char k = 'a'; k <= 'i'; ++k) distinct += bytes({0x61, k, 0x01});
  std::size_t n = 0;
  cbor::decode_map(distinct, [&](std::string_view, Value&&) { ++n; });
  EXPECT_EQ(n, 9u);
}

// Before: each level reserved its claimed count before reading (200 × 2^20 × 72 B).
TEST(CborStrict, NestedLengthClaimsReserveNothingLarge) {
  std::string in;
  for (int i = 0; i < 200; ++i) in += bytes({0x9a, 0x00, 0x10, 0x00, 0x00});  // array(2^20)
  in.append(std::size_t{1} << 20, static_cast<char>(0xf6));
  // Refused by the decode budget (2^20 Values) before the outer arrays turn out truncated.
  EXPECT_EQ(decode_error_of(in), cortex::make_error_code(Errc::reply_too_large));
  cbor::DecodeOptions roomy;
  roomy.max_amplification = 256;
  EXPECT_EQ(decode_error_of(in, roomy), kDecodeError);  // the outer arrays are truncated after one item
}

TEST(CborStrict, TheDecodeBudgetRefusesAmplifyingFrames) {
  std::string nulls = bytes({0x9a, 0x00, 0x20, 0x00, 0x00});
  nulls.append(std::size_t{1} << 21, static_cast<char>(0xf6));  // 2 MiB → ~150 MB of Values
  try {
    cbor::decode(nulls);
    ADD_FAILURE() << "decoded";
  } catch (const cortex::Error& e) {
    // Not malformed: larger than this client accepts (its own code: no fault of the server).
    EXPECT_EQ(e.code(), cortex::make_error_code(Errc::reply_too_large));
    EXPECT_NE(std::string(e.what()).find("max_amplification"), std::string::npos) << e.what();
  }
  cbor::DecodeOptions roomy;
  roomy.max_amplification = 256;
  EXPECT_EQ(cbor::decode(nulls, roomy).get<Array>().size(), std::size_t{1} << 21);
  // Replies of real shape (objects of text and numbers) decode well within the default budget.
  Array rows;
  for (int i = 0; i < 100000; ++i) rows.push_back(Value(Object{{"name", Value("agent-" + std::to_string(i))}, {"n", Value(i)}}));
  cbor::DecodeOptions tight;
  tight.min_budget = 0;  // the budget is the multiple alone
  EXPECT_EQ(cbor::decode(cbor::encode(Value(rows)), tight).get<Array>().size(), rows.size());
}

TEST(CborStrict, PeekIdFindsTheRequestOfAnUndecodableReply) {
  // {"id": 7, "result": "\xff"}: the reply fails to decode, but it can be attributed.
  const auto reply = bytes({0xa2, 0x62, 'i', 'd', 0x07, 0x66, 'r', 'e', 's', 'u', 'l', 't', 0x61, 0xff});
  EXPECT_THROW(cbor::decode_map(reply, [](std::string_view, Value&&) {}), cortex::Error);
  EXPECT_EQ(cbor::peek_id(reply), std::optional<std::int64_t>(7));
  // The id after the bad value is found too; none in an id-less frame, nor in garbage.
  EXPECT_EQ(cbor::peek_id(bytes({0xa2, 0x66, 'r', 'e', 's', 'u', 'l', 't', 0x61, 0xff, 0x62, 'i', 'd', 0x09})), std::optional<std::int64_t>(9));
  EXPECT_EQ(cbor::peek_id(bytes({0xa1, 0x65, 'e', 'r', 'r', 'o', 'r', 0x61, 0xff})), std::nullopt);
  EXPECT_EQ(cbor::peek_id(bytes({0xff, 0xfe})), std::nullopt);
}

// What held before still holds.
TEST(CborStrict, DeepNestingAndHugeLengthsStayRefused) {
  std::string deep(100000, static_cast<char>(0x81));
  deep.push_back(static_cast<char>(0xf6));
  EXPECT_EQ(decode_error_of(deep), kDecodeError);
  EXPECT_EQ(decode_error_of(bytes({0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})), kDecodeError);
}
