// AgentSession's binding: where the session lives (a server-side session on a shared connection
// on 3.x, or an exclusive lease on 2.x), its setup (signin or authenticate, use, variables), its
// renewal before the token expires, and its loss when the connection closes.
#include "agent_session_impl.hpp"

#include <stdexcept>

// After the standard headers: Asio picks its handler allocator (aligned_alloc or operator new)
// from what libstdc++ has declared by then, and every translation unit must pick the same.
#include <asio/steady_timer.hpp>

#include "connection_setup.hpp"
#include "cortex/storage/io_runner.hpp"

namespace cortex::sessions {

using storage::RpcConnection;
using storage::Value;

// -- binding ----------------------------------------------------------------------------------

void AgentSession::Impl::with_binding(BindHandler then) {
  std::shared_ptr<Bound> stale;
  {
    std::unique_lock<std::mutex> lock(mu);
    if (bound && bound->conn->is_open()) {
      if (!bound->renew_by || std::chrono::steady_clock::now() < *bound->renew_by) {
        auto b = bound;
        lock.unlock();  // never under the lock: `then` sends, and may take the lock itself
        return then({}, "", std::move(b));
      }
      stale = std::move(bound);  // its session ends with its token: bind afresh, with a newer one
    }
    waiters.push_back(std::move(then));
    if (binding) {
      lock.unlock();
      return retire_binding(std::move(stale));
    }
    binding = true;
  }
  retire_binding(std::move(stale));
  auto got = [weak = weak_from_this()](std::error_code ec, const std::string& why, std::shared_ptr<RpcConnection> conn) {
    auto self = weak.lock();
    if (!self) return;
    if (ec) return self->bind_done(ec, why, nullptr);
    if (conn->supports_sessions()) {
      auto b = std::make_shared<Bound>();
      b->conn = std::move(conn);
      b->session = storage::Uuid::random();
      return self->setup(std::move(b));
    }
    // 2.x: no server-side sessions — an exclusive lease, with use/signin replayed on it.
    auto leased = [weak](std::error_code aec, pool::PooledConnection lease) {
      auto s = weak.lock();
      if (!s) return;
      if (aec) return s->bind_done(aec, "no connection for the agent's session: " + aec.message(), nullptr);
      auto b = std::make_shared<Bound>();
      b->conn = lease.connection();
      b->lease.emplace(std::move(lease));
      s->setup(std::move(b));
    };
    if (!self->manager.with([&](pool::ConnectionManager& m) { m.async_acquire(std::move(leased)); })) {
      self->bind_done(make_error_code(Errc::pool_closed), "the connection manager is gone", nullptr);
    }
  };
  if (!manager.with([&](pool::ConnectionManager& m) { m.async_shared_connection(std::move(got)); })) {
    bind_done(make_error_code(Errc::pool_closed), "the connection manager is gone", nullptr);
  }
}

// attach (3.x), authenticate, use, then every variable: the state the agent had, on the new
// binding, through the pool's one setup routine. An agent without credentials of its own is the
// manager's user: it authenticates with the token of the connection it is bound to (no password
// hashing per agent), falling back to the manager's signin.
pool::detail::SetupPlan AgentSession::Impl::state_plan(const std::string& token) {
  std::lock_guard<std::mutex> lock(mu);
  const bool own = credentials.has_value();
  pool::SessionDefaults d{ns, db, own ? credentials : manager_credentials};
  auto plan = pool::detail::setup_plan(d, own ? std::string() : token);
  for (const auto& [name, value] : vars) plan.steps.push_back(storage::rpc::let(name, value));
  plan.metrics = manager.metrics().get();  // kept alive by whoever runs the plan (see setup)
  return plan;
}

void AgentSession::Impl::setup(std::shared_ptr<Bound> b) {
  pool::detail::SetupPlan plan = state_plan(b->conn->auth_token());
  if (b->session) plan.steps.insert(plan.steps.begin(), storage::rpc::attach());
  plan.options = b->options();
  // A session lives as long as the token it was authenticated with: renew it before that.
  auto token = std::make_shared<std::string>();
  plan.token_out = token;
  // The run counts into the metrics by a plain pointer, and may outlive this session (and the
  // manager): its completion holds them.
  pool::detail::run_setup(b->conn, std::move(plan), [weak = weak_from_this(), b, token, counts = manager.metrics()](std::error_code ec, const std::string& why) {
    auto self = weak.lock();
    if (!self) return;
    if (ec) return self->bind_done(ec, "agent session setup failed: " + why, nullptr);
    if (!token->empty()) b->renew_by = pool::detail::renew_by(*token);
    self->bind_done({}, "", b);
  });
}

// A binding replaced before its session expired: its server-side session goes (best effort, not
// awaited), a lease goes back to the pool; its live queries are re-issued on the new binding.
void AgentSession::Impl::retire_binding(std::shared_ptr<Bound> b) {
  if (!b) return;
  b->conn->remove_on_closed(b->closed_token);
  if (b->session) b->conn->async_call(storage::rpc::detach(), b->options(), [](std::error_code, Value) {});
}

void AgentSession::Impl::bind_done(std::error_code ec, const std::string& why, std::shared_ptr<Bound> b) {
  std::vector<BindHandler> ready;
  bool rebound = false;
  {
    std::lock_guard<std::mutex> lock(mu);
    binding = false;
    ready.swap(waiters);
    if (!ec) {
      rebound = generation > 0;
      ++generation;
      b->generation = generation;
      bound = b;
      if (rebound) ++reconnects;
    }
  }
  if (!ec) {
    // A connection that closes unbinds the session; live queries then bring it back by themselves.
    b->closed_token = b->conn->on_closed([weak = weak_from_this(), raw = b.get()](const std::string&) {
      if (auto self = weak.lock()) self->unbound(raw);
    });
    if (rebound) reissue_lives();
  }
  for (auto& w : ready) w(ec, why, ec ? nullptr : b);
}

void AgentSession::Impl::unbound(const Bound* gone) {
  bool lives;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (bound.get() != gone) return;
    bound.reset();
    lives = !subs.empty() && !closed;
  }
  if (lives) reissue_lives();
}

}  // namespace cortex::sessions
