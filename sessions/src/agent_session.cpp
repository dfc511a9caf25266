// AgentSession: operations (fair admission, deadlines, limits, retries after a lost binding) and
// the public API. The binding is in session_binding.cpp, the transaction log in
// transaction_log_store.cpp, live queries in live_subscriptions.cpp.
#include "agent_session_impl.hpp"

#include <future>
#include <stdexcept>

#include "connection_setup.hpp"
#include "cortex/storage/block_on.hpp"
#include "cortex/storage/io_runner.hpp"

namespace cortex::sessions {

using storage::RpcConnection;
using storage::Value;

std::string error_text(std::error_code ec, const Value& v) {
  if (v.is<std::string>()) return v.get<std::string>();
  if (v["message"].is<std::string>()) return v["message"].get<std::string>();
  return ec.message();
}

// -- operations -------------------------------------------------------------------------------

std::chrono::steady_clock::time_point AgentSession::Impl::deadline_after(std::chrono::milliseconds timeout) {
  return std::chrono::steady_clock::now() + (timeout.count() > 0 ? timeout : storage::ConnectOptions{}.request_timeout);
}

bool AgentSession::Impl::may_send(CallDeadline& deadline, std::chrono::milliseconds& timeout) {
  const auto left = deadline.at - std::chrono::steady_clock::now();
  // Past its deadline, a call is caught unsent even when its timer has not fired yet: it is never
  // sent with a last millisecond to live.
  if (left <= std::chrono::steady_clock::duration::zero()) deadline.try_expire();
  if (!deadline.try_send()) return false;
  timeout = std::max(std::chrono::milliseconds(1), std::chrono::ceil<std::chrono::milliseconds>(left));
  return true;
}

void AgentSession::Impl::send(storage::Request request, storage::RequestOptions options, storage::Handler h, int attempt,
                              std::shared_ptr<CallDeadline> deadline, std::function<void()> on_expire) {
  with_binding([weak = weak_from_this(), request = std::move(request), options, h, attempt, deadline, on_expire](
                   std::error_code ec, const std::string& why, std::shared_ptr<Bound> b) mutable {
    auto self = weak.lock();
    if (!self) return h(make_error_code(Errc::pool_closed), Value(std::string("the agent session is gone")));
    if (ec) return h(ec, Value(why));
    // The deadline may have caught the call while it waited for its turn or a binding: then it
    // was answered (pool_timeout, never sent) and must not be sent now.
    auto o = options;
    if (!may_send(*deadline, o.timeout)) return h(make_error_code(Errc::pool_timeout), Value(std::string("deadline passed before sending")));
    if (b->session) o.session = b->session;
    auto retry = attempt == 0 ? std::make_optional(request) : std::nullopt;
    auto sent = [weak, retry = std::move(retry), options, h, deadline, on_expire](std::error_code cec, Value v) mutable {
      auto s = weak.lock();
      // Never written (the connection had just closed): rebind and send once more, by the same
      // deadline. Unsent again, it races that deadline while it waits for the rebind (which may
      // wait for a whole connect) exactly as it raced it the first time: its timer is armed again.
      if (s && retry && cec == make_error_code(Errc::not_connected)) {
        deadline->unsend();
        pool::detail::arm_deadline(s->io, deadline, on_expire);
        return s->send(std::move(*retry), options, h, 1, deadline, on_expire);
      }
      h(cec, std::move(v));
    };
    // Through the endpoint's accounting (breaker, health, in-flight, shutdown drain), as the
    // shared path's calls are.
    if (!self->manager.with([&](pool::ConnectionManager& m) { m.async_call_on(b->conn, std::move(request), o, std::move(sent)); })) {
      sent(make_error_code(Errc::pool_closed), Value(std::string("the connection manager is gone")));
    }
  });
}

void AgentSession::Impl::submit(storage::Request request, storage::RequestOptions options, storage::Handler h, bool limited) {
  std::string refusal;
  std::error_code refused = make_error_code(Errc::limit_exceeded);
  {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) {
      refusal = "the agent session is closed";
      refused = make_error_code(Errc::pool_closed);
    } else if (limited && limits.max_operations && operations >= limits.max_operations) {
      refusal = "agent '" + agent + "' reached max_operations (" + std::to_string(limits.max_operations) + ")";
    } else if (limited && limits.max_concurrent_operations && in_flight >= limits.max_concurrent_operations) {
      refusal = "agent '" + agent + "' has max_concurrent_operations (" + std::to_string(limits.max_concurrent_operations) +
                ") in flight";
    } else {
      ++in_flight;
      ++operations;
    }
    if (!refusal.empty()) ++limit_refusals;
  }
  if (!refusal.empty()) return h(refused, Value(refusal));
  const auto start = std::chrono::steady_clock::now();
  // The call's one deadline covers its fair-queue turn, the binding, any rebind, and the request.
  auto deadline = std::make_shared<CallDeadline>();
  deadline->at = deadline_after(options.timeout);
  // Answers the caller once, whoever comes first: the outcome, or the deadline while unsent.
  auto answer = [weak = weak_from_this(), start, h, deadline](std::error_code ec, Value v) {
    if (!deadline->claim_answer()) return;
    if (auto self = weak.lock()) {
      self->latency.record(std::chrono::steady_clock::now() - start);
      std::lock_guard<std::mutex> lock(self->mu);
      --self->in_flight;
      if (ec) ++self->errors;
    }
    h(ec, std::move(v));
  };
  std::function<void()> on_expire = [answer] {
    answer(make_error_code(Errc::pool_timeout), Value(std::string("not sent before the call's deadline (waiting for its turn or a connection)")));
  };
  pool::detail::arm_deadline(io, deadline, on_expire);
  auto finish = [g = gate, answer](std::error_code ec, Value v) {
    g->done();  // the next agent's turn (may start its operation on this thread)
    answer(ec, std::move(v));
  };
  gate->submit(agent, [weak = weak_from_this(), request = std::move(request), options = std::move(options), finish, deadline,
                       on_expire]() mutable {
    auto self = weak.lock();
    if (!self) return finish(make_error_code(Errc::pool_closed), Value(std::string("the agent session is gone")));
    self->send(std::move(request), std::move(options), std::move(finish), 0, std::move(deadline), std::move(on_expire));
  });
}

Value AgentSession::Impl::call(storage::Request request, storage::RequestOptions options, bool limited) {
  storage::refuse_on_io_thread(io, "agent session call '" + request.method + "'");
  auto [ec, v] = storage::block_on<std::error_code, Value>(
      [&](auto done) { submit(std::move(request), std::move(options), std::move(done), limited); });
  return storage::finish_blocking_call(ec, std::move(v));
}

// -- AgentSession -----------------------------------------------------------------------------

std::shared_ptr<AgentSession> AgentSession::create(std::string agent_id, pool::ConnectionManager& manager, std::string ns,
                                                   AgentSessionOptions options) {
  if (agent_id.empty()) throw std::invalid_argument("AgentSession::create: agent_id must not be empty");
  if (ns.empty()) throw std::invalid_argument("AgentSession::create: namespace must not be empty");
  if (options.database.empty()) throw std::invalid_argument("AgentSessionOptions::database: must not be empty");
  std::shared_ptr<AgentSession> s(new AgentSession());
  auto impl = std::make_shared<Impl>(manager.weak_ref());
  impl->agent = std::move(agent_id);
  impl->ns = std::move(ns);
  impl->db = options.database;
  impl->credentials = options.credentials;
  impl->manager_credentials = manager.config().credentials;
  impl->retry_policy = manager.config().pool_config.retry_policy;
  impl->limits = options.limits;
  impl->gate = AgentScheduler::for_manager(impl->manager, options.fair_capacity);
  s->impl_ = std::move(impl);
  // The metrics hold the session weakly; its destructor removes it (its figures stay, summed under
  // its agent id, so that the agent's counters never go down when it closes).
  s->impl_->stats_token = manager.metrics().add_agent(s->impl_->agent, [weak = std::weak_ptr<Impl>(s->impl_)] {
    metrics::AgentStats a;
    if (auto i = weak.lock()) {
      a.latency = i->latency.summary();
      std::lock_guard<std::mutex> lock(i->mu);
      a.operations = i->operations;
      a.errors = i->errors;
    }
    return a;
  });
  s->impl_->open_log();  // binds, and reads where the persisted log stands
  return s;
}

// Safe after the manager is gone: the metrics and the io_context are the session's to keep.
AgentSession::~AgentSession() {
  impl_->manager.metrics()->remove_agent(impl_->stats_token);
  std::shared_ptr<Impl::Bound> b;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->closed = true;
    b = std::move(impl_->bound);
  }
  if (!b) return;
  b->conn->remove_on_closed(b->closed_token);
  // The server-side session goes with it (best effort, not awaited); a lease is returned and reset.
  if (b->session) b->conn->async_call(storage::rpc::detach(), b->options(), [](std::error_code, Value) {});
}

Value AgentSession::call(storage::Request request, storage::RequestOptions options) {
  return impl_->call(std::move(request), std::move(options));
}

storage::QueryResult AgentSession::query(std::string sql, storage::Object vars) {
  return storage::QueryResult::parse(call(storage::rpc::query(std::move(sql), std::move(vars))));
}

void AgentSession::async_call(storage::Request request, storage::RequestOptions options, storage::Handler handler) {
  impl_->submit(std::move(request), std::move(options), std::move(handler));
}

Value AgentSession::call_in(storage::Request request, storage::RequestOptions options) {
  return impl_->call(std::move(request), std::move(options));
}

void AgentSession::let(const std::string& name, Value value) {
  call(storage::rpc::let(name, value));
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->vars[name] = std::move(value);
}

void AgentSession::unset(const std::string& name) {
  call(storage::rpc::unset(name));
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->vars.erase(name);
}

void AgentSession::signin(const storage::Credentials& credentials) {
  call(storage::rpc::signin(credentials));
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->credentials = credentials;
}

storage::Uuid AgentSession::begin_txn() {
  Value v = call(storage::rpc::begin());
  if (!v.is<storage::Uuid>()) throw Error(make_error_code(Errc::protocol_error), "begin returned no transaction id");
  return v.get<storage::Uuid>();
}

// The begin was let in: its end is owed, whatever the limits say now.
void AgentSession::end_txn(storage::Uuid txn, bool commit) {
  impl_->call(commit ? storage::rpc::commit(txn) : storage::rpc::cancel(txn), {}, false);
}

Value TransactionScope::call(storage::Request request) {
  storage::RequestOptions o;
  o.txn = txn_;
  return session_.call_in(std::move(request), o);
}

storage::QueryResult TransactionScope::query(std::string sql, storage::Object vars) {
  return storage::QueryResult::parse(call(storage::rpc::query(std::move(sql), std::move(vars))));
}

AgentMetrics AgentSession::metrics() const {
  AgentMetrics m;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    m.operations = impl_->operations;
    m.errors = impl_->errors;
    m.limit_refusals = impl_->limit_refusals;
    m.reconnects = impl_->reconnects;
  }
  m.latency = impl_->latency.summary();
  return m;
}

const std::string& AgentSession::agent_id() const noexcept { return impl_->agent; }
const std::string& AgentSession::ns() const noexcept { return impl_->ns; }

asio::io_context& AgentSession::io_context() const noexcept { return impl_->io; }

pool::PooledConnection AgentSession::acquire(const char* file, int line) {
  storage::refuse_on_io_thread(impl_->io, "AgentSession::acquire()");
  std::optional<pool::PooledConnection> held;
  if (!impl_->manager.with([&](pool::ConnectionManager& m) { held.emplace(m.acquire(file, line)); })) {
    throw Error(make_error_code(Errc::pool_closed), "agent " + impl_->agent + ": the connection manager is gone");
  }
  pool::PooledConnection lease = std::move(*held);
  auto plan = impl_->state_plan(lease->auth_token());
  auto [ec, why] = storage::block_on<std::error_code, std::string>(
      [&](auto done) { pool::detail::run_setup(lease.connection(), std::move(plan), std::move(done)); });
  if (ec) {
    lease.mark_broken();  // half set up: never handed to anyone else
    throw Error(ec, "agent " + impl_->agent + ": setting up its lease failed: " + why);
  }
  return lease;
}

bool AgentSession::server_side() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->bound && impl_->bound->session.has_value();
}

}  // namespace cortex::sessions
