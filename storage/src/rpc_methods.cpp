// The table of docs/protocol.md §2's methods (see rpc_methods.hpp). `query` comes first: it is
// most calls, and the look-up is a scan (names compare by size first, so a miss costs little).
#include "cortex/storage/rpc_methods.hpp"

namespace cortex::storage::rpc {

namespace {

using A = AuthEffect;

// A row per method. Read along: name, then only the facts that hold for it.
constexpr MethodFacts row(std::string_view name) { return MethodFacts{name}; }
constexpr MethodFacts reads(std::string_view name, bool http = true) {
  MethodFacts f{name};
  f.safe_to_resend = true;
  f.over_http = http;
  return f;
}
constexpr MethodFacts auth(std::string_view name, A effect, bool v3 = false) {
  MethodFacts f{name};
  f.auth = effect;
  f.needs_3x = v3;
  return f;
}

constexpr MethodFacts make_query() {
  MethodFacts f{"query"};
  f.statements = true;
  return f;
}
constexpr MethodFacts make_use() {
  MethodFacts f{"use"};
  f.changes_ns_db = true;
  return f;
}
constexpr MethodFacts make_vars(std::string_view name) {
  MethodFacts f{name};
  f.changes_vars = true;
  return f;
}
constexpr MethodFacts make_reset() {
  MethodFacts f{"reset"};
  f.auth = A::cleared;
  f.changes_ns_db = f.changes_vars = f.changes_live = true;
  return f;
}
constexpr MethodFacts make_live(std::string_view name) {
  MethodFacts f{name};
  f.changes_live = true;
  f.over_http = false;
  return f;
}
constexpr MethodFacts v3_only(MethodFacts f, bool http = false) {
  f.needs_3x = true;
  f.over_http = http;
  return f;
}
constexpr MethodFacts with(MethodFacts f, bool MethodFacts::*flag) {
  f.*flag = true;
  return f;
}

constexpr MethodFacts kTable[] = {
    make_query(),
    reads("select"),
    row("create"),
    row("insert"),
    row("insert_relation"),
    row("update"),
    row("upsert"),
    row("merge"),
    row("patch"),
    row("delete"),
    row("relate"),
    row("run"),
    row("graphql"),
    reads("ping"),
    reads("version"),
    reads("info"),
    make_use(),
    make_vars("let"),
    make_vars("set"),
    make_vars("unset"),
    auth("signin", A::from_result),
    auth("signup", A::from_result),
    auth("authenticate", A::from_param),
    auth("invalidate", A::cleared),
    make_reset(),
    make_live("live"),
    make_live("kill"),
    v3_only(with(row("attach"), &MethodFacts::opens_session)),
    v3_only(with(row("detach"), &MethodFacts::ends_session)),
    v3_only(reads("sessions")),
    v3_only(with(row("begin"), &MethodFacts::opens_txn)),
    v3_only(with(row("commit"), &MethodFacts::ends_txn)),
    v3_only(with(row("cancel"), &MethodFacts::ends_txn)),
    auth("refresh", A::from_result, true),
    v3_only(row("revoke"), true),
};

constexpr MethodFacts make_unknown() {
  MethodFacts f{""};
  f.changes_ns_db = f.changes_vars = f.changes_live = f.statements = true;
  return f;
}
constexpr MethodFacts kUnknown = make_unknown();

}  // namespace

const MethodFacts& method_facts(std::string_view method) noexcept {
  for (const auto& f : kTable) {
    if (f.name == method) return f;
  }
  return kUnknown;
}

MethodTable known_methods() noexcept { return {kTable, sizeof(kTable) / sizeof(kTable[0])}; }

}  // namespace cortex::storage::rpc
