#pragma once
// Completion tokens for AgentSession's async operations (see cortex/pool/async.hpp for the
// convention: callbacks, asio::use_future, asio::experimental::deferred, asio::use_awaitable;
// completion (std::exception_ptr, T); move-only handlers; the handler's associated executor).
//
//   auto rows = co_await cortex::sessions::async_query(*agent, "SELECT * FROM memory", {}, asio::use_awaitable);
#include "cortex/pool/async.hpp"
#include "cortex/sessions/agent_session.hpp"

namespace cortex::sessions {

/// session.query, asynchronously: fairly queued and counted against the session's limits.
template <class Token>
auto async_query(AgentSession& session, std::string sql, storage::Object vars, Token&& token) {
  return pool::detail::initiate<storage::QueryResult>(
      session.io_context(), std::forward<Token>(token),
      [s = session.shared_from_this(), sql = std::move(sql), vars = std::move(vars)](auto done) mutable {
        s->async_call(storage::rpc::query(std::move(sql), std::move(vars)), {}, pool::detail::query_completion(done));
      });
}

/// session.call, asynchronously.
template <class Token>
auto async_call(AgentSession& session, storage::Request request, storage::RequestOptions options, Token&& token) {
  return pool::detail::initiate<storage::Value>(
      session.io_context(), std::forward<Token>(token),
      [s = session.shared_from_this(), request = std::move(request), options](auto done) mutable {
        s->async_call(std::move(request), options, pool::detail::value_completion(done));
      });
}

/// session.async_transaction: begin, the steps in order inside one transaction, commit — or cancel
/// on the first failed step, completing with its error. Completes with the steps' results.
///   auto results = co_await async_transaction(*agent, {rpc::query("CREATE a"), rpc::query("CREATE b")}, asio::use_awaitable);
template <class Token>
auto async_transaction(AgentSession& session, std::vector<storage::Request> steps, Token&& token) {
  return pool::detail::initiate<storage::Array>(
      session.io_context(), std::forward<Token>(token), [s = session.shared_from_this(), steps = std::move(steps)](auto done) mutable {
        s->async_transaction(std::move(steps), [done](std::error_code ec, storage::Value v) mutable {
          if (ec) return done(pool::detail::failure(ec, v), storage::Array{});
          done(nullptr, v.is<storage::Array>() ? std::move(v.get<storage::Array>()) : storage::Array{});
        });
      });
}

}  // namespace cortex::sessions
