// Every RPC method against the real engine.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>

#include "cortex/storage/error.hpp"
#include "engine.hpp"
#include "error_of.hpp"

using namespace cortex::storage;
using cortex::Errc;
using cortex::test::connect_fresh;

namespace {

template <class F>
cortex::Error expect_error(F&& f) {
  try {
    f();
  } catch (const cortex::Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error";
  return cortex::Error(cortex::make_error_code(Errc::ok), "");
}

}  // namespace

TEST(RpcMethods, PingVersionInfo) {
  auto c = connect_fresh();
  EXPECT_TRUE(c->call(rpc::ping()).is_none());
  const Value v = c->call(rpc::version());
  ASSERT_TRUE(v.is<std::string>());
  EXPECT_EQ(v.get<std::string>().rfind("surrealdb-", 0), 0u);
  EXPECT_EQ(c->server_version(), v.get<std::string>());
  EXPECT_TRUE(c->supports_sessions());
  EXPECT_TRUE(c->call(rpc::info()).is_none());  // anonymous: no $auth record
}

namespace rows_test {
struct Person {
  RecordId id;
  std::string name;
  double score = 0;
  std::optional<std::int64_t> age;
};
CORTEX_ROW(Person, id, name, score, age)
}  // namespace rows_test

// Rows from the real engine read into structs: integer scores into a double, a missing optional
// field, record ids; a row that does not fit names its index and field.
TEST(RpcMethods, RowsReadIntoStructs) {
  auto c = connect_fresh();
  c->query("CREATE person:a SET name = 'A', score = 3; CREATE person:b SET name = 'B', score = 2.5, age = 40;"
           "CREATE person:c SET name = 'C', score = 'high';")
      .throw_if_error();
  auto ok = c->query("SELECT * FROM person WHERE id != person:c ORDER BY name");
  const auto people = ok.rows<rows_test::Person>();
  ASSERT_EQ(people.size(), 2u);
  EXPECT_EQ(people[0].id.to_string(), "person:a");
  EXPECT_EQ(people[0].score, 3.0);
  EXPECT_FALSE(people[0].age);
  EXPECT_EQ(people[1].age, 40);
  const auto all = c->query("SELECT * FROM person ORDER BY name");
  try {
    (void)all.rows<rows_test::Person>();
    ADD_FAILURE() << "a string score read as a double";
  } catch (const cortex::Error& e) {
    EXPECT_NE(std::string(e.what()).find("[2].score"), std::string::npos) << e.what();
  }
}

TEST(RpcMethods, CrudRoundTripKeepsTypes) {
  auto c = connect_fresh();
  const Value ada = record("person", Value("ada"));
  const Value created = c->call(rpc::create(ada, Value(Object{{"name", Value("Ada")}, {"born", Value(Datetime{-4725000000, 0})}})));
  EXPECT_EQ(created["id"], ada);
  EXPECT_TRUE(created["born"].is<Datetime>());
  EXPECT_EQ(c->call(rpc::select(ada))["name"], Value("Ada"));

  const Value merged = c->call(rpc::merge(ada, Value(Object{{"field", Value("maths")}})));
  EXPECT_EQ(merged["field"], Value("maths"));
  EXPECT_EQ(merged["name"], Value("Ada"));

  const Value updated = c->call(rpc::update(ada, Value(Object{{"name", Value("Ada L.")}})));
  EXPECT_EQ(updated["name"], Value("Ada L."));
  EXPECT_TRUE(updated["field"].is_none());  // update replaces

  const Value upserted = c->call(rpc::upsert(record("person", Value("alan")), Value(Object{{"name", Value("Alan")}})));
  EXPECT_EQ(upserted["name"], Value("Alan"));

  const Value patched = c->call(rpc::patch(ada, {Value(Object{{"op", Value("add")}, {"path", Value("/age")}, {"value", Value(36)}})}));
  EXPECT_EQ(patched["age"], Value(36));

  const Value inserted = c->call(rpc::insert(Value(Table{"person"}), Value(Array{Value(Object{{"name", Value("Grace")}})})));
  ASSERT_TRUE(inserted.is<Array>());
  EXPECT_EQ(inserted[std::size_t{0}]["name"], Value("Grace"));
  EXPECT_EQ(c->call(rpc::select(Value(Table{"person"}))).get<Array>().size(), 3u);

  const Value deleted = c->call(rpc::delete_(ada));
  EXPECT_EQ(deleted["name"], Value("Ada L."));  // returns BEFORE
  EXPECT_TRUE(c->call(rpc::select(ada)).is_none());
}

TEST(RpcMethods, RelateAndInsertRelation) {
  auto c = connect_fresh();
  const Value a = record("person", Value("a")), b = record("person", Value("b"));
  c->call(rpc::create(a));
  c->call(rpc::create(b));
  const Value edge = c->call(rpc::relate(a, Value(Table{"knows"}), b, Value(Object{{"since", Value(2020)}})));
  const Value e = edge.is<Array>() ? edge[std::size_t{0}] : edge;
  EXPECT_EQ(e["in"], a);
  EXPECT_EQ(e["out"], b);
  EXPECT_EQ(e["since"], Value(2020));
  const Value rel = c->call(rpc::insert_relation(Value(Table{"likes"}), Value(Object{{"in", b}, {"out", a}})));
  const Value r = rel.is<Array>() ? rel[std::size_t{0}] : rel;
  EXPECT_EQ(r["in"], b);
  auto q = c->query("SELECT VALUE ->knows->person FROM ONLY $a", {{"a", a}});
  EXPECT_EQ(q.at(0), Value(Array{b}));
}

TEST(RpcMethods, QueryVariablesLetUnsetAndRun) {
  auto c = connect_fresh();
  // Hostile text stays data: it travels as a variable, never as SurrealQL.
  const std::string hostile = "'; REMOVE TABLE person; --";
  auto q = c->query("CREATE person:x SET name = $name; SELECT VALUE name FROM person", {{"name", Value(hostile)}});
  EXPECT_TRUE(q.ok());
  EXPECT_EQ(q.at(1), Value(Array{Value(hostile)}));

  c->call(rpc::let("greeting", Value("hello")));
  EXPECT_EQ(c->query("RETURN $greeting").at(0), Value("hello"));
  EXPECT_EQ(c->query("RETURN $greeting", {{"greeting", Value("override")}}).at(0), Value("override"));
  c->call(rpc::unset("greeting"));
  EXPECT_TRUE(c->query("RETURN $greeting").at(0).is_none());

  EXPECT_EQ(c->call(rpc::run("string::uppercase", std::nullopt, {Value("abc")})), Value("ABC"));
  c->query("DEFINE FUNCTION fn::double($x: int) { RETURN $x * 2; }").throw_if_error();
  EXPECT_EQ(c->call(rpc::run("fn::double", std::nullopt, {Value(21)})), Value(42));
}

TEST(RpcMethods, StatementErrorsAreSurfacedNotLost) {
  auto c = connect_fresh();
  auto q = c->query("RETURN 1; THROW 'custom failure'; RETURN 3");
  ASSERT_EQ(q.statements.size(), 3u);
  EXPECT_TRUE(q.statements[0].ok);
  EXPECT_FALSE(q.statements[1].ok);
  EXPECT_NE(q.statements[1].error.find("custom failure"), std::string::npos);
  EXPECT_EQ(q.at(2), Value(3));
  const auto e = expect_error([&] { q.throw_if_error(); });
  EXPECT_EQ(e.code(), cortex::make_error_code(Errc::statement_failed));
}

TEST(RpcMethods, InvalidSurrealQlReachesTheCaller) {
  auto c = connect_fresh();
  const auto e = expect_error([&] { c->query("SELEKT * FROM nowhere"); });
  EXPECT_EQ(e.code(), cortex::make_error_code(cortex::ServerErrc::validation));
  EXPECT_EQ(e.server_kind(), "Validation");
  EXPECT_NE(std::string(e.what()).find("Parse error"), std::string::npos) << e.what();
  // The connection is still usable afterwards.
  EXPECT_EQ(c->query("RETURN 7").at(0), Value(7));
}

TEST(RpcMethods, UnknownMethodIsATypedServerError) {
  auto c = connect_fresh();
  const auto e = expect_error([&] { c->call(Request{"no_such_method", {}}); });
  EXPECT_EQ(e.code(), cortex::make_error_code(cortex::ServerErrc::not_found));
  EXPECT_EQ(e.server_code(), -32601);
}

TEST(RpcMethods, UseWithoutNamespaceIsRefusedClientSide) {
  auto c = cortex::test::connect_signed_in(cortex::test::io(), cortex::test::engine_url());
  const auto e = expect_error([&] { c->call(rpc::use(std::nullopt, "db")); });
  EXPECT_EQ(e.code(), cortex::make_error_code(Errc::invalid_argument));
  // The server survived (a raw `use [NONE, db]` aborts SurrealDB 3.0.2).
  EXPECT_TRUE(c->call(rpc::ping()).is_none());
}

TEST(RpcMethods, AsyncFormsHandTheErrorCodeToTheHandler) {
  auto c = connect_fresh();
  std::mutex mu;
  std::condition_variable cv;
  int done = 0;
  std::error_code ok_ec, bad_ec;
  Value ok_value, bad_value;
  c->async_call(rpc::query("RETURN 5"), {}, [&](std::error_code ec, Value v) {
    std::lock_guard<std::mutex> lock(mu);
    ok_ec = ec;
    ok_value = std::move(v);
    ++done;
    cv.notify_all();
  });
  c->async_call(rpc::query("RETURN ("), {}, [&](std::error_code ec, Value v) {
    std::lock_guard<std::mutex> lock(mu);
    bad_ec = ec;
    bad_value = std::move(v);
    ++done;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done == 2; });
  EXPECT_FALSE(ok_ec);
  EXPECT_EQ(QueryResult::parse(ok_value).at(0), Value(5));
  EXPECT_EQ(bad_ec.category(), cortex::server_category());
  EXPECT_TRUE(bad_value["message"].is<std::string>());
  auto fut = c->call_future(rpc::query("RETURN ("));
  EXPECT_THROW(fut.get(), cortex::Error);
}

TEST(RpcMethods, ResetClearsTheSessionState) {
  auto c = connect_fresh();
  c->call(rpc::let("x", Value(1)));
  EXPECT_EQ(c->query("RETURN $x").at(0), Value(1));
  c->call(rpc::reset());
  EXPECT_TRUE(c->auth_token().empty());
  // reset signs the session out: a guest may not query on a server that refuses guests…
  EXPECT_EQ(cortex::test::error_of([&] { c->query("RETURN 1"); }), cortex::make_error_code(cortex::ServerErrc::not_allowed));
  c->call(rpc::signin(cortex::test::root_credentials()));
  EXPECT_FALSE(c->auth_token().empty());
  // …and forgets the namespace too: statements fail until `use` runs again…
  const auto q = c->query("RETURN $x");
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.statements[0].error.find("namespace"), std::string::npos) << q.statements[0].error;
  // …and the variable is gone.
  c->call(rpc::use("after_reset", "db"));
  EXPECT_TRUE(c->query("RETURN $x").at(0).is_none());
}
