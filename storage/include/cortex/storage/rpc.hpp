#pragma once
// Typed builders for every RPC method of docs/protocol.md §2. Each returns a Request that
// RpcConnection::call / async_call / call_future sends. Builders validate what can be validated
// without a server and throw cortex::Error(Errc::invalid_argument) — e.g. use() refuses a database
// without a namespace, which would abort a 3.0.2 server.
#include <optional>
#include <string>

#include "cortex/storage/value.hpp"

namespace cortex::storage {

struct Request {
  std::string method;
  Array params;
};

/// Sign-in credentials. Which fields are set picks the level: root {user, pass}; namespace
/// {ns, user, pass}; database {ns, db, user, pass}; record access {ns, db, ac, vars…};
/// bearer {ns, db, ac, key}. Never logged, never put in an error message.
struct Credentials {
  std::string ns, db, ac, user, pass, key;
  Object vars;  ///< extra fields of a record-access signin/signup
};

/// What a 3.x signin answers when its access method issues refresh tokens ({access, refresh}).
/// Secrets: never logged, never put in an error message.
struct TokenPair {
  std::string access, refresh;
};

namespace rpc {
Request ping();
Request version();
Request info();
/// std::nullopt = keep the current value (NONE on the wire). Throws when db is set but ns is not.
Request use(std::optional<std::string> ns, std::optional<std::string> db);
Request signin(const Credentials& c);
Request signup(const Credentials& c);
Request authenticate(std::string token);
Request invalidate();
Request reset();
Request let(std::string name, Value value);
Request unset(std::string name);
Request query(std::string sql, Object vars = {});
Request select(Value what);
Request create(Value what, Value data = Value::none());
Request insert(Value what, Value data);
Request insert_relation(Value what, Value data);
Request update(Value what, Value data = Value::none());
Request upsert(Value what, Value data = Value::none());
Request merge(Value what, Value data);
Request patch(Value what, Array patches, bool diff = false);
Request delete_(Value what);
Request relate(Value from, Value kind, Value with, Value data = Value::none());
Request run(std::string name, std::optional<std::string> version = std::nullopt, Array args = {});
Request live(Value what, bool diff = false);
Request kill(Uuid live_id);
// 3.x only (RpcConnection refuses them on older servers): server-side sessions and transactions.
Request attach();   ///< send with RequestOptions::session = the new session's id
Request detach();   ///< send with RequestOptions::session = the session to drop
Request sessions();
Request begin();
Request commit(Uuid txn);
Request cancel(Uuid txn);
/// 3.x: trades the pair's refresh token for a new pair (the answer; its access token becomes the
/// session's auth), or revokes the refresh token (answers NONE).
Request refresh(const TokenPair& tokens);
Request revoke(const TokenPair& tokens);
/// The pair in a signin/signup/refresh answer ({access, refresh}); nullopt when it is a bare token.
std::optional<TokenPair> token_pair(const Value& result);
}  // namespace rpc

namespace rpc {
/// The token a successful auth call leaves on the session it ran in: signin/signup/refresh's
/// answer (3.x may answer {access, refresh}), authenticate's parameter, "" after invalidate or reset; nullopt
/// for calls that leave the session's auth as it was. A secret: never log it.
std::optional<std::string> token_after(const Request& request, const Value& result);
}  // namespace rpc

/// One statement's outcome within a `query` reply.
struct StatementResult {
  bool ok = true;
  Value result;            ///< the statement's value (on error: NONE)
  std::string time;        ///< server-reported duration, e.g. "152.5µs"
  std::string type;        ///< 3.x: "live", "kill" or ""
  std::string error;       ///< the server's message when !ok
  std::string error_kind;  ///< 3.x error kind when !ok
};

/// A `query` reply. Statement errors are not RPC errors: check ok() or call throw_if_error().
struct QueryResult {
  std::vector<StatementResult> statements;
  bool ok() const noexcept;
  /// Throws cortex::Error(Errc::statement_failed) with the first failing statement's message.
  void throw_if_error() const;
  /// The result of statement `i`; throws like throw_if_error() when that statement failed, and
  /// cortex::Error(invalid_argument) when there is no such statement.
  const Value& at(std::size_t i) const;
  /// Statement `i`'s rows read as T (see Value::as): an array gives one T per row, a single object
  /// (SELECT ONLY, CREATE ONLY) one, NONE none. Throws like at(), and cortex::Error(invalid_argument)
  /// naming the row and field that does not fit ("[3].importance").
  template <class T>
  std::vector<T> rows(std::size_t i = 0) const {
    const Value& v = at(i);
    if (v.is_none() || v.is_null()) return {};
    if (v.is<Array>()) return v.as<std::vector<T>>();
    return {v.as<T>()};
  }
  /// Parses the raw RPC result. Throws cortex::Error(protocol_error) when it is not a statement list.
  static QueryResult parse(const Value& raw);
};

}  // namespace cortex::storage
