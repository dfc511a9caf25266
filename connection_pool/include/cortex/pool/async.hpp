#pragma once
// Completion tokens for the manager's and the pool's async operations (standalone Asio's
// async_initiate): pass a callback, asio::use_future, asio::experimental::deferred, or, from C++20
// coroutines, asio::use_awaitable — as with Boost.MySQL and Boost.Redis.
//
//   auto rows = co_await cortex::pool::async_query(manager, "SELECT * FROM memory", {}, asio::use_awaitable);
//   std::future<QueryResult> f = cortex::pool::async_query(manager, "RETURN 1", {}, asio::use_future);
//   cortex::pool::async_acquire(manager, [](std::exception_ptr e, PooledConnection lease) { … });
//
// Every operation completes with (std::exception_ptr, T): on failure the exception is the
// cortex::Error a blocking call would throw (code and the server's message), so use_future and
// use_awaitable throw it; on success it is null. Handlers may be move-only; they run on their
// associated executor (by default the manager's io_context). This header includes Asio (standalone,
// ASIO_STANDALONE): link cortex::asio, or have Asio's headers on the include path yourself.
#include <exception>
#include <memory>
#include <string>
#include <utility>

#include <asio/associated_executor.hpp>
#include <asio/async_result.hpp>
#include <asio/dispatch.hpp>
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "cortex/pool/connection_manager.hpp"
#include "cortex/storage/error.hpp"

namespace cortex::pool {
namespace detail {

/// The exception a failed async operation completes with: the code, and the server's message when
/// the failure carried one (the value of a failed storage::Handler).
inline std::exception_ptr failure(std::error_code ec, const storage::Value& v = {}) {
  std::string why = ec.message();
  if (v.is<std::string>()) why = v.get<std::string>();
  else if (v["message"].is<std::string>()) why = v["message"].get<std::string>();
  return std::make_exception_ptr(Error(ec, why));
}

/// Runs `start(done)` for a completion token whose signature is void(std::exception_ptr, T).
/// `done` is copyable (the library's callbacks are std::function) and completes the handler — kept
/// once, behind a shared pointer, so move-only handlers work — on its associated executor.
template <class T, class Token, class Start>
auto initiate(asio::io_context& io, Token&& token, Start&& start) {
  return asio::async_initiate<Token, void(std::exception_ptr, T)>(
      [&io](auto handler, auto begin) {
        using Handler = decltype(handler);
        auto held = std::make_shared<Handler>(std::move(handler));
        auto work = asio::make_work_guard(asio::get_associated_executor(*held, io.get_executor()));
        begin([held, work](std::exception_ptr error, T value) mutable {
          auto ex = work.get_executor();
          asio::dispatch(ex, [held, error, value = std::move(value)]() mutable { (*held)(error, std::move(value)); });
          work.reset();
        });
      },
      token, std::forward<Start>(start));
}

/// A storage::Handler that completes `done` with the call's value, or its failure.
template <class Done>
auto value_completion(Done done) {
  return [done](std::error_code ec, storage::Value v) mutable {
    if (ec) return done(failure(ec, v), storage::Value{});
    done(nullptr, std::move(v));
  };
}

/// A storage::Handler that completes `done` with a query's statement results, or its failure.
template <class Done>
auto query_completion(Done done) {
  return [done](std::error_code ec, storage::Value v) mutable {
    if (ec) return done(failure(ec, v), storage::QueryResult{});
    try {
      done(nullptr, storage::QueryResult::parse(v));
    } catch (...) {
      done(std::current_exception(), storage::QueryResult{});
    }
  };
}

}  // namespace detail

/// The shared path's query (manager.query): completes with the statement results.
template <class Token>
auto async_query(ConnectionManager& manager, std::string sql, storage::Object vars, Token&& token,
                 storage::RequestOptions options = {}) {
  return detail::initiate<storage::QueryResult>(
      manager.io_context(), std::forward<Token>(token),
      [&manager, sql = std::move(sql), vars = std::move(vars), options](auto done) mutable {
        manager.async_call(storage::rpc::query(std::move(sql), std::move(vars)), options, detail::query_completion(done));
      });
}

/// The shared path's call (manager.call): completes with the request's result.
template <class Token>
auto async_call(ConnectionManager& manager, storage::Request request, storage::RequestOptions options, Token&& token) {
  return detail::initiate<storage::Value>(
      manager.io_context(), std::forward<Token>(token),
      [&manager, request = std::move(request), options](auto done) mutable {
        manager.async_call(std::move(request), options, detail::value_completion(done));
      });
}

/// An exclusive lease (manager.acquire).
template <class Token>
auto async_acquire(ConnectionManager& manager, Token&& token) {
  return detail::initiate<PooledConnection>(manager.io_context(), std::forward<Token>(token), [&manager](auto done) {
    manager.async_acquire([done](std::error_code ec, PooledConnection lease) mutable {
      if (ec) return done(detail::failure(ec), PooledConnection{});
      done(nullptr, std::move(lease));
    });
  });
}

/// An exclusive lease from one pool (pool.acquire).
template <class Token>
auto async_acquire(ConnectionPool& pool, asio::io_context& io, Token&& token) {
  return detail::initiate<PooledConnection>(io, std::forward<Token>(token), [p = pool.shared_from_this()](auto done) {
    p->async_acquire([done, p](std::error_code ec, PooledConnection lease) mutable {
      if (ec) return done(std::make_exception_ptr(Error(ec, p->describe(ec))), PooledConnection{});
      done(nullptr, std::move(lease));
    });
  });
}

/// manager.async_execute_with_retry: `op(handler)` starts one attempt; retried on a timer while its
/// failure proves nothing was sent (or `options.idempotent`), never replaying a write.
template <class Token>
auto async_execute_with_retry(ConnectionManager& manager, std::function<void(storage::Handler)> op, Token&& token,
                              RetryOptions options = {}) {
  return detail::initiate<storage::Value>(
      manager.io_context(), std::forward<Token>(token), [&manager, op = std::move(op), options](auto done) mutable {
        manager.async_execute_with_retry(std::move(op), detail::value_completion(done), options);
      });
}

}  // namespace cortex::pool
