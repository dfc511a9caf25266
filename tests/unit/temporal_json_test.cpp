// Text forms of datetimes and durations, and the documented JSON mapping.
#include <gtest/gtest.h>

#include "cortex/storage/error.hpp"
#include "cortex/storage/value_json.hpp"
#include "temporal.hpp"

using namespace cortex::storage;

TEST(Temporal, Rfc3339RoundTrips) {
  EXPECT_EQ(format_rfc3339(Datetime{0, 0}), "1970-01-01T00:00:00Z");
  EXPECT_EQ(format_rfc3339(Datetime{1700000000, 123000000}), "2023-11-14T22:13:20.123000000Z");
  EXPECT_EQ(format_rfc3339(Datetime{-1, 0}), "1969-12-31T23:59:59Z");
  const Datetime d = parse_rfc3339("2023-11-14T23:13:20.5+01:00");
  EXPECT_EQ(d.seconds, 1700000000);
  EXPECT_EQ(d.nanos, 500000000u);
  EXPECT_THROW(parse_rfc3339("2023-13-01T00:00:00Z"), cortex::Error);
  EXPECT_THROW(parse_rfc3339("yesterday"), cortex::Error);
  EXPECT_THROW(parse_rfc3339("2023-11-14T23:13:20"), cortex::Error);
}

TEST(Temporal, DurationsParseAndFormat) {
  EXPECT_EQ(parse_duration("1h30m").seconds, 5400u);
  const Duration d = parse_duration("1d2ms3µs4ns");
  EXPECT_EQ(d.seconds, 86400u);
  EXPECT_EQ(d.nanos, 2003004u);
  EXPECT_EQ(format_duration(d), "1d2ms3µs4ns");
  EXPECT_EQ(format_duration(Duration{0, 0}), "0ns");
  EXPECT_EQ(format_duration(Duration{31536000 + 604800, 0}), "1y1w");
  EXPECT_THROW(parse_duration(""), cortex::Error);
  EXPECT_THROW(parse_duration("5 parsecs"), cortex::Error);
  EXPECT_THROW(parse_duration("h"), cortex::Error);
}

TEST(ValueJson, DisplayMappingIsDocumented) {
  const Value v(Object{{"id", record("person", Value("ada"))},
                       {"n", Value::none()},
                       {"at", Value(Datetime{0, 0})},
                       {"d", Value(Duration{90, 0})},
                       {"u", Value(Uuid::parse("0190d0b0-0000-7000-8000-000000000001"))},
                       {"dec", Value(Decimal{"1.10"})},
                       {"t", Value(Table{"person"})},
                       {"p", Value(Geometry{88, Value(Array{Value(1.0), Value(2.0)})})}});
  const auto j = to_json(v);
  EXPECT_EQ(j["id"], "person:ada");
  EXPECT_TRUE(j["n"].is_null());
  EXPECT_EQ(j["at"], "1970-01-01T00:00:00Z");
  EXPECT_EQ(j["d"], "1m30s");
  EXPECT_EQ(j["u"], "0190d0b0-0000-7000-8000-000000000001");
  EXPECT_EQ(j["dec"], "1.10");
  EXPECT_EQ(j["t"], "person");
  EXPECT_EQ(j["p"]["type"], "Point");
}

TEST(ValueJson, FromJsonKeepsJsonTypes) {
  const auto j = nlohmann::json::parse(R"({"a":[1,2.5,"x",null,true],"b":{"c":-3}})");
  const Value v = from_json(j);
  EXPECT_EQ(v["a"][std::size_t{0}], Value(1));
  EXPECT_EQ(v["a"][1], Value(2.5));
  EXPECT_EQ(v["a"][2], Value("x"));
  EXPECT_TRUE(v["a"][3].is_null());
  EXPECT_EQ(v["b"]["c"], Value(-3));
  EXPECT_EQ(to_json(v), j);
}

TEST(Value, TypedAccessNamesBothTypesOnMismatch) {
  const Value v("text");
  try {
    (void)v.get<std::int64_t>();
    FAIL();
  } catch (const cortex::Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("value is string, not int", 0), 0u) << e.what();
  }
  EXPECT_TRUE(v["missing"].is_none());
}
