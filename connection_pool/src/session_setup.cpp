#include "session_setup.hpp"

#include "cortex/storage/error.hpp"

namespace cortex::pool::detail {

using storage::RpcConnection;

std::vector<storage::Request> session_steps(const SessionDefaults& defaults, const std::string& schema) {
  std::vector<storage::Request> steps;
  if (defaults.credentials) steps.push_back(storage::rpc::signin(*defaults.credentials));
  if (defaults.ns || defaults.db) steps.push_back(storage::rpc::use(defaults.ns, defaults.db));
  if (!schema.empty()) steps.push_back(storage::rpc::query(schema));
  return steps;
}

namespace {

void step(std::weak_ptr<RpcConnection> weak_conn, std::shared_ptr<std::vector<storage::Request>> steps, std::size_t i,
          StepsDone done, int conflicts) {
  if (i == steps->size()) return done({}, "");
  auto conn = weak_conn.lock();
  if (!conn) return done(make_error_code(Errc::connection_lost), "connection gone during setup");
  const std::string method = (*steps)[i].method;
  conn->async_call((*steps)[i], {}, [weak_conn, steps, i, done, method, conflicts](std::error_code ec, storage::Value v) {
    // Sessions that `use` the same new namespace at once can conflict; the server says to retry.
    const auto& msg = v["message"];
    if (ec && conflicts < 5 && msg.is<std::string>() && is_retryable_conflict(msg.get<std::string>())) {
      return step(weak_conn, steps, i, done, conflicts + 1);
    }
    if (!ec && method == "query") {
      for (const auto& s : storage::QueryResult::parse(v).statements) {
        if (!s.ok) return done(make_error_code(Errc::statement_failed), "schema statement failed: " + s.error);
      }
    }
    // Never echo a signin's parameters: the server's message alone.
    if (ec) return done(ec, method + " on a pooled connection failed: " + ec.message());
    step(weak_conn, steps, i + 1, done, 0);
  });
}

}  // namespace

void run_steps(std::weak_ptr<RpcConnection> conn, std::vector<storage::Request> steps, StepsDone done) {
  step(std::move(conn), std::make_shared<std::vector<storage::Request>>(std::move(steps)), 0, std::move(done), 0);
}

}  // namespace cortex::pool::detail
