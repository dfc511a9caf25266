#pragma once
// The one table of facts about SurrealDB's RPC methods (docs/protocol.md §2). Every layer that
// decides something by method asks it: RpcConnection (what needs 3.x, what touches the session a
// pooled connection returns with, whose auth token a call leaves), the HTTP transport (what it
// refuses, what it keeps for its emulated session), the manager's shared path (what it refuses
// because the session is every caller's) and failover (what may be sent again). A method missing
// from the table is treated as one that may change anything and must not be sent twice.
#include <cstddef>
#include <string_view>

namespace cortex::storage::rpc {

/// What a successful call does to the auth of the session it runs in.
enum class AuthEffect : unsigned char {
  none,        ///< leaves it as it was
  from_result, ///< the answer is the new token (signin, signup, refresh; 3.x may answer {access, refresh})
  from_param,  ///< the first parameter is the new token (authenticate)
  cleared,     ///< signs out (invalidate, reset)
};

/// Facts about one RPC method. Thread-safe, immutable, valid for the program's lifetime.
struct MethodFacts {
  std::string_view name;
  bool needs_3x = false;        ///< exists from SurrealDB 3.0 (sessions, transactions, refresh tokens)
  AuthEffect auth = AuthEffect::none;
  bool changes_ns_db = false;   ///< selects a namespace or database (use, reset)
  bool changes_vars = false;    ///< sets or clears session variables (let, set, unset, reset)
  bool changes_live = false;    ///< opens or ends live queries owned by the session (live, kill, reset)
  bool opens_session = false;   ///< attach
  bool ends_session = false;    ///< detach
  bool opens_txn = false;       ///< begin
  bool ends_txn = false;        ///< commit, cancel
  bool statements = false;      ///< runs SurrealQL that may itself hold USE, LET or BEGIN (query): unknowable by method
  bool safe_to_resend = false;  ///< reads only: sent twice, it changes nothing (so a lost one may go again)
  bool over_http = true;        ///< SurrealDB's HTTP RPC runs it (each request on its own: no live queries, sessions or transactions)

  bool changes_auth() const noexcept { return auth != AuthEffect::none; }
  /// Changes who the session is, where it is or what it holds (not counting live queries and
  /// the SurrealQL of `query`). The manager's shared path refuses these: its session is every caller's.
  bool changes_identity() const noexcept {
    return changes_auth() || changes_ns_db || changes_vars || opens_session || ends_session || opens_txn || ends_txn;
  }
  /// Leaves the session exactly as it was (a pooled connection that ran only these needs no restore).
  bool keeps_session() const noexcept { return !changes_identity() && !changes_live && !statements; }
};

/// The facts of `method`; for a method not in the table, the most careful ones (changes
/// everything, never resent, allowed everywhere so the server gives its own answer).
const MethodFacts& method_facts(std::string_view method) noexcept;

/// Every method of the table, for tests and tools that walk them.
struct MethodTable {
  const MethodFacts* begin_;
  std::size_t size_;
  const MethodFacts* begin() const noexcept { return begin_; }
  const MethodFacts* end() const noexcept { return begin_ + size_; }
  std::size_t size() const noexcept { return size_; }
};
MethodTable known_methods() noexcept;

}  // namespace cortex::storage::rpc
