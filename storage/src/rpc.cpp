#include "cortex/storage/rpc.hpp"

#include <string_view>

#include "cortex/storage/error.hpp"
#include "cortex/storage/rpc_methods.hpp"

namespace cortex::storage {
namespace rpc {
namespace {

Value opt_text(const std::optional<std::string>& s) { return s ? Value(*s) : Value::none(); }

Object credential_map(const Credentials& c, bool include_user) {
  Object o = c.vars;
  auto put = [&](const char* k, const std::string& v) { if (!v.empty()) o[k] = Value(v); };
  put("ns", c.ns);
  put("db", c.db);
  put("ac", c.ac);
  if (include_user) { put("user", c.user); put("pass", c.pass); }
  put("key", c.key);
  return o;
}

[[noreturn]] void invalid(const std::string& why) { throw Error(make_error_code(Errc::invalid_argument), why); }

Array with_optional(Array params, Value last) {
  if (!last.is_none()) params.push_back(std::move(last));
  return params;
}

}  // namespace

Request ping() { return {"ping", {}}; }
Request version() { return {"version", {}}; }
Request info() { return {"info", {}}; }
Request use(std::optional<std::string> ns, std::optional<std::string> db) {
  if (db && !ns) invalid("use: a database needs a namespace (SurrealDB 3.0.2 aborts on `use [NONE, db]`)");
  if ((ns && ns->empty()) || (db && db->empty())) invalid("use: namespace and database names must not be empty");
  return {"use", {opt_text(ns), opt_text(db)}};
}
Request signin(const Credentials& c) {
  if (c.ac.empty() && (c.user.empty() || c.pass.empty())) invalid("signin: needs user and pass, or an access method (ac)");
  if (!c.db.empty() && c.ns.empty()) invalid("signin: a database needs a namespace");
  return {"signin", {Value(credential_map(c, true))}};
}
Request signup(const Credentials& c) {
  if (c.ns.empty() || c.db.empty() || c.ac.empty()) invalid("signup: needs ns, db and ac");
  return {"signup", {Value(credential_map(c, true))}};
}
Request authenticate(std::string token) { return {"authenticate", {Value(std::move(token))}}; }
Request invalidate() { return {"invalidate", {}}; }
Request reset() { return {"reset", {}}; }
Request let(std::string name, Value value) {
  if (name.empty()) invalid("let: variable name must not be empty");
  return {"let", {Value(std::move(name)), std::move(value)}};
}
Request unset(std::string name) { return {"unset", {Value(std::move(name))}}; }
Request query(std::string sql, Object vars) { return {"query", {Value(std::move(sql)), Value(std::move(vars))}}; }
Request select(Value what) { return {"select", {std::move(what)}}; }
Request create(Value what, Value data) { return {"create", with_optional({std::move(what)}, std::move(data))}; }
Request insert(Value what, Value data) { return {"insert", {std::move(what), std::move(data)}}; }
Request insert_relation(Value what, Value data) { return {"insert_relation", {std::move(what), std::move(data)}}; }
Request update(Value what, Value data) { return {"update", with_optional({std::move(what)}, std::move(data))}; }
Request upsert(Value what, Value data) { return {"upsert", with_optional({std::move(what)}, std::move(data))}; }
Request merge(Value what, Value data) { return {"merge", {std::move(what), std::move(data)}}; }
Request patch(Value what, Array patches, bool diff) { return {"patch", {std::move(what), Value(std::move(patches)), Value(diff)}}; }
Request delete_(Value what) { return {"delete", {std::move(what)}}; }
Request relate(Value from, Value kind, Value with, Value data) {
  return {"relate", with_optional({std::move(from), std::move(kind), std::move(with)}, std::move(data))};
}
Request run(std::string name, std::optional<std::string> version, Array args) {
  return {"run", {Value(std::move(name)), opt_text(version), Value(std::move(args))}};
}
Request live(Value what, bool diff) { return {"live", {std::move(what), Value(diff)}}; }
Request kill(Uuid live_id) { return {"kill", {Value(live_id)}}; }
Request attach() { return {"attach", {}}; }
Request detach() { return {"detach", {}}; }
Request sessions() { return {"sessions", {}}; }
Request begin() { return {"begin", {}}; }
Request commit(Uuid txn) { return {"commit", {Value(txn)}}; }
Request cancel(Uuid txn) { return {"cancel", {Value(txn)}}; }

namespace {
Value pair_value(const TokenPair& t) { return Object{{"access", Value(t.access)}, {"refresh", Value(t.refresh)}}; }
}  // namespace
Request refresh(const TokenPair& tokens) { return {"refresh", {pair_value(tokens)}}; }
Request revoke(const TokenPair& tokens) { return {"revoke", {pair_value(tokens)}}; }

std::optional<TokenPair> token_pair(const Value& result) {
  if (!result["access"].is<std::string>() || !result["refresh"].is<std::string>()) return std::nullopt;
  return TokenPair{result["access"].get<std::string>(), result["refresh"].get<std::string>()};
}

}  // namespace rpc

bool QueryResult::ok() const noexcept {
  for (const auto& s : statements) {
    if (!s.ok) return false;
  }
  return true;
}

void QueryResult::throw_if_error() const {
  for (std::size_t i = 0; i < statements.size(); ++i) at(i);
}

const Value& QueryResult::at(std::size_t i) const {
  if (i >= statements.size()) {
    throw Error(make_error_code(Errc::invalid_argument),
                "query has " + std::to_string(statements.size()) + " statements, no statement " + std::to_string(i));
  }
  const auto& s = statements[i];
  if (!s.ok) {
    throw Error(make_error_code(Errc::statement_failed), "statement " + std::to_string(i) + " failed: " + s.error, 0,
                s.error_kind);
  }
  return s.result;
}

QueryResult QueryResult::parse(const Value& raw) {
  if (!raw.is<Array>()) throw Error(make_error_code(Errc::protocol_error), std::string("query reply is ") + raw.type_name());
  QueryResult q;
  for (const auto& item : raw.get<Array>()) {
    StatementResult s;
    const auto& status = item["status"];
    s.ok = status.is<std::string>() && status.get<std::string>() == "OK";
    if (item["time"].is<std::string>()) s.time = item["time"].get<std::string>();
    if (item["type"].is<std::string>()) s.type = item["type"].get<std::string>();
    if (s.ok) {
      s.result = item["result"];
    } else {
      s.error = item["result"].is<std::string>() ? item["result"].get<std::string>() : "statement failed";
      if (item["kind"].is<std::string>()) s.error_kind = item["kind"].get<std::string>();
    }
    q.statements.push_back(std::move(s));
  }
  return q;
}

namespace rpc {
std::optional<std::string> token_after(const Request& request, const Value& result) {
  const auto text = [](const Value& v) { return v.is<std::string>() ? v.get<std::string>() : std::string(); };
  switch (method_facts(request.method).auth) {
    case AuthEffect::from_result: return text(result.is<std::string>() ? result : result["access"]);
    case AuthEffect::from_param: return request.params.empty() ? std::string() : text(request.params[0]);
    case AuthEffect::cleared: return std::string();
    case AuthEffect::none: break;
  }
  return std::nullopt;
}
}  // namespace rpc

}  // namespace cortex::storage
