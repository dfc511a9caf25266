// Typed rows: Value::as<T>(), QueryResult::rows<T>(), to_value(), CORTEX_ROW, nlohmann::json
// interop, RecordId::to_string(), and the integer constructors.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cortex/storage/error.hpp"
#include "cortex/storage/rpc.hpp"
#include "cortex/storage/value.hpp"

using namespace cortex::storage;

namespace demo_rows {

struct Memory {
  std::string text;
  double importance = 0;
  std::optional<std::string> tag;
  std::vector<std::int64_t> refs;
};
CORTEX_ROW(Memory, text, importance, tag, refs)

// A type only nlohmann knows.
struct Point {
  int x = 0, y = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Point, x, y)

}  // namespace demo_rows

namespace {

std::string error_text(const std::function<void()>& f) {
  try {
    f();
  } catch (const cortex::Error& e) {
    EXPECT_EQ(e.code(), cortex::make_error_code(cortex::Errc::invalid_argument));
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return {};
}

Value row(const char* text, Value importance) {
  return Value(Object{{"text", Value(text)}, {"importance", std::move(importance)}, {"refs", Value(Array{Value(1), Value(2)})}});
}

}  // namespace

TEST(ValueAs, NumbersCoerceOnlyWhenLossless) {
  EXPECT_EQ(Value(3).as<double>(), 3.0);
  EXPECT_EQ(Value(3.0).as<std::int64_t>(), 3);
  EXPECT_EQ(Value(-7).as<int>(), -7);
  EXPECT_EQ(Value(200).as<std::uint8_t>(), 200);
  EXPECT_NE(error_text([] { (void)Value(3.5).as<int>(); }).find("not an integer"), std::string::npos);
  EXPECT_NE(error_text([] { (void)Value(300).as<std::uint8_t>(); }).find("out of range"), std::string::npos);
  EXPECT_NE(error_text([] { (void)Value(-1).as<unsigned>(); }).find("out of range"), std::string::npos);
  const std::int64_t big = (std::int64_t{1} << 53) + 1;
  EXPECT_NE(error_text([&] { (void)Value(big).as<double>(); }).find("not exactly representable"), std::string::npos);
  EXPECT_NE(error_text([] { (void)Value(9.3e18).as<std::int64_t>(); }).find("not an integer in range"), std::string::npos);
  EXPECT_NE(error_text([] { (void)Value("3").as<double>(); }).find("it is string"), std::string::npos);
  EXPECT_NE(error_text([] { (void)Value(1).as<bool>(); }).find("as bool"), std::string::npos);
}

TEST(ValueAs, ExactAlternativesContainersAndOptionals) {
  EXPECT_EQ(Value("x").as<std::string>(), "x");
  EXPECT_TRUE(Value(true).as<bool>());
  EXPECT_EQ(Value(Array{Value(1), Value(2.0)}).as<std::vector<double>>(), (std::vector<double>{1.0, 2.0}));
  EXPECT_EQ(Value(Set{{Value(1)}}).as<std::vector<int>>(), std::vector<int>{1});
  const auto m = Value(Object{{"a", Value(1)}, {"b", Value(2)}}).as<std::map<std::string, int>>();
  EXPECT_EQ(m.at("b"), 2);
  EXPECT_FALSE(Value().as<std::optional<int>>());
  EXPECT_FALSE(Value::null().as<std::optional<int>>());
  EXPECT_EQ(Value(4).as<std::optional<int>>(), 4);
  EXPECT_EQ(record("t", Value(1)).as<RecordId>().table, "t");
  EXPECT_NE(error_text([] { (void)Value(Array{Value(1), Value("x")}).as<std::vector<int>>(); }).find("[1]"), std::string::npos);
}

TEST(ValueAs, RowsNameTheRowAndTheFieldThatDoesNotFit) {
  QueryResult q;
  StatementResult s;
  s.result = Value(Array{row("a", Value(0.5)), row("b", Value(1)), row("c", Value("high"))});
  q.statements.push_back(s);
  const auto msg = error_text([&] { (void)q.rows<demo_rows::Memory>(); });
  EXPECT_NE(msg.find("[2].importance"), std::string::npos) << msg;
  EXPECT_NE(msg.find("float"), std::string::npos) << msg;
  EXPECT_NE(msg.find("string"), std::string::npos) << msg;
  q.statements[0].result.get<Array>().pop_back();
  const auto rows = q.rows<demo_rows::Memory>();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].importance, 1.0);  // an int where a float is declared: read losslessly
  EXPECT_FALSE(rows[0].tag);           // a missing optional field
  EXPECT_EQ(rows[0].refs, (std::vector<std::int64_t>{1, 2}));
  Object missing{{"importance", Value(1.0)}};
  EXPECT_NE(error_text([&] { (void)Value(missing).as<demo_rows::Memory>(); }).find("text as string: it is none (missing)"),
            std::string::npos);
  q.statements[0].result = row("only", Value(0.1));  // SELECT ONLY: one object
  EXPECT_EQ(q.rows<demo_rows::Memory>().size(), 1u);
  q.statements[0].result = Value();
  EXPECT_TRUE(q.rows<demo_rows::Memory>().empty());
}

TEST(ValueAs, ToValueIsTheReverse) {
  demo_rows::Memory m{"hi", 0.25, std::string("t"), {7}};
  const Value v = to_value(m);
  EXPECT_EQ(v["text"].get<std::string>(), "hi");
  EXPECT_EQ(v["refs"][0].get<std::int64_t>(), 7);
  const auto back = v.as<demo_rows::Memory>();
  EXPECT_EQ(back.text, "hi");
  EXPECT_EQ(back.tag, "t");
  EXPECT_EQ(to_value(std::vector<int>{1, 2}), Value(Array{Value(1), Value(2)}));
  EXPECT_TRUE(to_value(std::optional<int>{}).is_null());
}

TEST(ValueAs, NlohmannTypesBothWays) {
  const Value v(Object{{"x", Value(1)}, {"y", Value(2.0)}});
  const auto p = v.as<demo_rows::Point>();
  EXPECT_EQ(p.y, 2);
  EXPECT_EQ(to_value(demo_rows::Point{3, 4})["x"].get<std::int64_t>(), 3);
  nlohmann::json j = v;  // adl_serializer<Value>
  EXPECT_EQ(j["x"], 1);
  const auto back = j.get<Value>();
  EXPECT_EQ(back["x"].get<std::int64_t>(), 1);
  EXPECT_NE(error_text([] { (void)Value(Object{{"x", Value("no")}}).as<demo_rows::Point>(); }).find("type must be number"),
            std::string::npos);
}

TEST(ValueAs, IntegerConstructorsAndRecordIdText) {
  const std::size_t n = 42;
  EXPECT_EQ(Value(n).get<std::int64_t>(), 42);
  EXPECT_EQ(Value(std::uint64_t{7}).get<std::int64_t>(), 7);
  EXPECT_NE(error_text([] { (void)Value(std::uint64_t{1} << 63); }).find("above"), std::string::npos);
  EXPECT_EQ(record("memory", Value("abc")).get<RecordId>().to_string(), "memory:abc");
  EXPECT_EQ(record("memory", Value(42)).get<RecordId>().to_string(), "memory:42");
  EXPECT_EQ(record("memory", Value("a b")).get<RecordId>().to_string(), "memory:\u27e8a b\u27e9");
  EXPECT_EQ(record("memory", Value("42")).get<RecordId>().to_string(), "memory:\u27e842\u27e9");
}
