// ConnectionManager: the public API over ConnectionManager::Impl (manager_impl.hpp) — construction
// by mode, calls and leases (routed by failover.cpp), execute_with_retry, health, shutdown.
#include <algorithm>
#include <future>
#include <mutex>
#include <random>

// After the standard headers: every translation unit must see the same allocator declarations
// when Asio picks its handler allocator.
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include "cortex/storage/block_on.hpp"
#include "cortex/storage/rpc_methods.hpp"
#include "manager_impl.hpp"

namespace cortex::pool {

using Clock = std::chrono::steady_clock;


ConnectionManager::ConnectionManager(DatabaseConfig config, unsigned io_threads) {
  config.validate();
  impl_ = std::make_shared<Impl>(std::move(config), io_threads);
  auto& impl = *impl_;
  std::vector<std::string> urls;
  std::visit(
      [&](const auto& m) {
        using M = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<M, ConnectionMode::Local>) {
          urls = {m.endpoint};
        } else if constexpr (std::is_same_v<M, ConnectionMode::Remote>) {
          urls = m.endpoints;
          impl.lb = LoadBalancer(m.load_balancing);
        } else {
          urls = {m.local_cache};
          urls.insert(urls.end(), m.remote_sync.begin(), m.remote_sync.end());
          impl.primary_first = true;
        }
      },
      impl.config.connection_mode.mode);
  // The hook first: the endpoints' first connections report to it.
  if (impl.config.on_event) impl.metrics->set_event_handler(impl.config.on_event);
  for (const auto& u : urls) impl.endpoints.push_back(std::make_unique<Endpoint>(u, impl.config, impl.io, impl.metrics));
  // Gauges are the sum of the pools' live counts (their fast lanes do not push).
  impl.metrics->set_gauge_source([raw = &impl] {
    metrics::PoolMetrics::Gauges g{0, 0, 0, 0};
    for (auto& e : raw->endpoints) {
      const auto st = e->pool().status();
      g.size += static_cast<std::int64_t>(st.size);
      g.idle += static_cast<std::int64_t>(st.idle);
      g.in_use += static_cast<std::int64_t>(st.in_use);
      g.waiters += static_cast<std::int64_t>(st.waiters);
    }
    return g;
  });
  impl.metrics->set_endpoints_source([raw = &impl] {
    std::vector<metrics::EndpointStats> out;
    for (auto& e : raw->endpoints) out.push_back(e->stats());
    return out;
  });
  if (const auto* h = std::get_if<ConnectionMode::Hybrid>(&impl.config.connection_mode.mode)) {
    HybridSyncParams sp;
    sp.local_url = impl.endpoints[0]->url();
    for (std::size_t i = 1; i < impl.endpoints.size(); ++i) sp.remote_urls.push_back(impl.endpoints[i]->url());
    sp.tables = h->tables;
    sp.name = h->sync_name;
    sp.interval = h->sync_interval;
    sp.session = {impl.config.namespace_, impl.config.database, impl.config.credentials};
    sp.metrics = impl.metrics;
    sp.cache_failures = [cache = impl.endpoints[0].get()] { return cache->failures(); };
    impl.sync = std::make_unique<HybridSync>(sp);
    // The cache takes calls once the first pass has copied the remotes' changes in; until then
    // (a remote that does not answer holds it up to here) the remotes take them.
    impl.sync->wait_first_pass(impl.config.pool_config.connection_timeout);
  }
}

ConnectionManager::~ConnectionManager() {
  if (!view_) shutdown(std::chrono::milliseconds(0));
}

ConnectionManager::WeakRef ConnectionManager::weak_ref() const {
  WeakRef r;
  r.impl_ = impl_;
  r.io_owner_ = impl_->io;
  r.io_ = &impl_->io->context();
  r.metrics_ = impl_->metrics;
  return r;
}

PooledConnection ConnectionManager::acquire(const char* file, int line) {
  storage::refuse_on_io_thread(impl_->io->context(), "acquire()");
  auto [ec, why, lease] = storage::block_on<std::error_code, const std::string&, PooledConnection>(
      [&](auto done) { impl_->route_acquire(std::move(done), file, line); });
  if (ec) throw Error(ec, why.empty() ? ec.message() : why);
  return std::move(lease);
}

void ConnectionManager::async_acquire(std::function<void(std::error_code, PooledConnection)> handler, const char* file,
                                      int line) {
  impl_->route_acquire([h = std::move(handler)](std::error_code ec, const std::string&, PooledConnection lease) {
    h(ec, std::move(lease));
  }, file, line);
}

storage::Value ConnectionManager::call(storage::Request request, storage::RequestOptions options) {
  storage::refuse_on_io_thread(impl_->io->context(), "call '" + request.method + "'");
  auto [ec, value] = storage::block_on<std::error_code, storage::Value>(
      [&](auto done) { async_call(std::move(request), std::move(options), std::move(done)); });
  return storage::finish_blocking_call(ec, std::move(value));
}

storage::QueryResult ConnectionManager::query(std::string sql, storage::Object vars, storage::RequestOptions options) {
  return storage::QueryResult::parse(call(storage::rpc::query(std::move(sql), std::move(vars)), std::move(options)));
}

void ConnectionManager::async_call(storage::Request request, storage::RequestOptions options, storage::Handler handler) {
  if (impl_->closed.load()) {
    return handler(make_error_code(Errc::pool_closed), storage::Value(std::string("the connection manager is shut down")));
  }
  // On the shared path the session is every caller's (and a connection's own): a method that
  // changes who it is, where it is or what it holds would leak one caller's identity, namespace or
  // variables into the others' calls. (A `query` holding USE or LET cannot be told apart by method.)
  if (storage::rpc::method_facts(request.method).changes_identity()) {
    return handler(make_error_code(Errc::session_state_on_shared_path),
                   storage::Value("'" + request.method + "' changes session state: the shared path (manager.call/query) "
                                  "is shared by every caller; run it on a lease (acquire()) or an AgentSession"));
  }
  impl_->route_call(std::move(request), std::move(options), std::move(handler));
}

void ConnectionManager::async_shared_connection(
    std::function<void(std::error_code, const std::string&, std::shared_ptr<storage::RpcConnection>)> handler) {
  if (impl_->closed.load()) return handler(make_error_code(Errc::pool_closed), "the connection manager is shut down", nullptr);
  impl_->route_connection(std::move(handler));
}

std::shared_ptr<storage::RpcConnection> ConnectionManager::shared_connection() {
  storage::refuse_on_io_thread(impl_->io->context(), "shared_connection()");
  auto [ec, why, conn] = storage::block_on<std::error_code, const std::string&, std::shared_ptr<storage::RpcConnection>>(
      [&](auto done) { async_shared_connection(std::move(done)); });
  if (ec) throw Error(ec, why);
  return conn;
}

void ConnectionManager::async_call_on(const std::shared_ptr<storage::RpcConnection>& conn, storage::Request request,
                                      storage::RequestOptions options, storage::Handler handler) {
  if (impl_->closed.load()) {
    return handler(make_error_code(Errc::pool_closed), storage::Value(std::string("the connection manager is shut down")));
  }
  const std::string url = conn->endpoint().to_string();
  Endpoint* ep = nullptr;
  for (auto& e : impl_->endpoints) {
    if (e->url() == url) ep = e.get();
  }
  if (!ep) return conn->async_call(std::move(request), std::move(options), std::move(handler));  // not one of ours
  if (!ep->admit()) {
    return handler(make_error_code(Errc::circuit_open), storage::Value("the circuit breaker of " + url + " is open"));
  }
  const auto start = Clock::now();
  ep->shared().async_call_on(*conn, std::move(request), std::move(options),
                             [weak = std::weak_ptr<Impl>(impl_), ep, start, h = std::move(handler)](std::error_code ec, storage::Value v) {
                               if (weak.lock()) ep->record(ec, Clock::now() - start);
                               h(ec, std::move(v));
                             });
}

namespace {
bool retry_allowed(std::error_code ec, const RetryOptions& o, bool attempt_may_have_run) noexcept {
  if (o.idempotent) {
    return is_safe_to_retry(ec) || ec == make_error_code(Errc::timeout) || ec == make_error_code(Errc::connection_lost);
  }
  // Not idempotent: only when nothing of the attempt can have run, neither the failed call nor an
  // earlier one of the same attempt (a write, then a connect failure, must not write twice).
  return is_safe_to_retry(ec) && !attempt_may_have_run;
}

struct AsyncRetry {
  std::function<void(storage::Handler)> op;
  storage::Handler handler;
  RetryOptions options;
  std::uint32_t attempt = 1;
};

// execute_with_retry's operations, blocking and async alike: where an attempt ends, whatever
// requests (if any) it made — those count where they end.
void count_operation_attempt(metrics::PoolMetrics& m, bool succeeded) noexcept {
  (succeeded ? m.operations_succeeded : m.operation_attempts_failed).fetch_add(1);
}
}  // namespace

bool ConnectionManager::should_retry(std::error_code ec, const RetryOptions& o, bool attempt_may_have_run) const noexcept {
  return retry_allowed(ec, o, attempt_may_have_run);
}

void ConnectionManager::count_retry(std::error_code ec) const { impl_->count_retry(ec); }

void ConnectionManager::count_attempt(bool succeeded) const noexcept { count_operation_attempt(*impl_->metrics, succeeded); }

void ConnectionManager::async_execute_with_retry(std::function<void(storage::Handler)> op, storage::Handler handler,
                                                 RetryOptions options) {
  auto run = std::make_shared<AsyncRetry>(AsyncRetry{std::move(op), std::move(handler), options});
  // One attempt; its failure alone says whether it may have run. The backoff is a timer on the
  // manager's io_context: no thread sleeps.
  struct Step {
    static void go(std::weak_ptr<Impl> weak, std::shared_ptr<AsyncRetry> run) {
      run->op([weak, run](std::error_code ec, storage::Value v) {
        auto impl = weak.lock();
        if (!impl) return run->handler(ec, std::move(v));
        count_operation_attempt(*impl->metrics, !ec);
        if (!ec) return run->handler({}, std::move(v));
        const auto& policy = impl->config.pool_config.retry_policy;
        if (!retry_allowed(ec, run->options, !surely_not_sent(ec)) || run->attempt >= policy.max_attempts) {
          return run->handler(ec, std::move(v));
        }
        impl->count_retry(ec);
        thread_local std::mt19937_64 rng{std::random_device{}()};
        const auto wait = policy.backoff(run->attempt++, std::uniform_real_distribution<double>(0.0, 1.0)(rng));
        auto timer = std::make_shared<asio::steady_timer>(impl->io->context(), wait);
        timer->async_wait([weak, run, timer](const std::error_code&) { go(weak, run); });
      });
    }
  };
  Step::go(impl_, std::move(run));
}

std::uint32_t ConnectionManager::max_attempts() const noexcept { return impl_->config.pool_config.retry_policy.max_attempts; }

std::chrono::milliseconds ConnectionManager::backoff(std::uint32_t retry) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return impl_->config.pool_config.retry_policy.backoff(retry, std::uniform_real_distribution<double>(0.0, 1.0)(rng));
}

bool ConnectionManager::wait_idle(std::chrono::milliseconds timeout) const {
  const auto deadline = Clock::now() + timeout;
  for (auto& e : impl_->endpoints) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (!e->pool().wait_quiet(std::max(left, std::chrono::milliseconds(0)))) return false;
  }
  return true;
}

metrics::PoolMetrics& ConnectionManager::metrics() const noexcept { return *impl_->metrics; }
const DatabaseConfig& ConnectionManager::config() const noexcept { return impl_->config; }

const std::string& ConnectionManager::endpoint_url() const noexcept { return impl_->endpoints.front()->url(); }

asio::io_context& ConnectionManager::io_context() const noexcept { return impl_->io->context(); }

std::vector<std::string> ConnectionManager::endpoint_urls() const {
  std::vector<std::string> urls;
  for (auto& e : impl_->endpoints) urls.push_back(e->url());
  return urls;
}

HealthStatus ConnectionManager::health_status() const {
  HealthStatus h;
  bool all_closed = true;
  for (auto& ep : impl_->endpoints) {
    const auto breaker = ep->breaker_state();  // reports a change that is due
    const auto st = ep->stats();
    EndpointHealth e;
    e.url = st.url;
    e.size = static_cast<std::size_t>(st.connections);
    e.idle = static_cast<std::size_t>(st.idle);
    e.in_use = static_cast<std::size_t>(st.leases_in_use);
    e.waiters = static_cast<std::size_t>(st.waiters);
    e.shared_in_flight = static_cast<std::size_t>(st.shared_in_flight);
    e.circuit_breaker_state = to_string(breaker);
    e.last_error = ep->last_failure();
    e.healthy = st.up;
    e.requests = st.requests;
    e.request_failures = st.request_failures;
    e.connect_failures = st.connect_failures;
    all_closed = all_closed && breaker == BreakerState::Closed;
    h.healthy = h.healthy || e.healthy;
    h.pool_size += e.size;
    h.available_connections += e.idle;
    h.in_use += e.in_use;
    h.waiters += e.waiters;
    h.endpoints.push_back(std::move(e));
  }
  const bool none_open = std::all_of(h.endpoints.begin(), h.endpoints.end(),
                                     [](const EndpointHealth& e) { return e.circuit_breaker_state == "Open"; });
  h.circuit_breaker_state = all_closed ? "Closed" : none_open ? "Open" : "HalfOpen";
  if (impl_->sync) {
    const auto st = impl_->sync->status();
    h.sync = SyncHealth{st.shipped, st.pulled, st.passes, st.lag ? st.lag->count() : -1, impl_->sync->cache_serving(),
                        st.last_error};
  }
  return h;
}

bool ConnectionManager::sync_now(std::chrono::milliseconds timeout) {
  return impl_->sync && !impl_->closed && impl_->sync->sync_now(timeout);
}

void ConnectionManager::shutdown(std::chrono::milliseconds grace) {
  auto& impl = *impl_;
  if (impl.closed.exchange(true)) return;
  if (impl.sync) impl.sync->stop();
  for (auto& e : impl.endpoints) e->pool().shutdown();  // waiters woken with pool_closed; idle close
  // In-flight work gets its grace: leases still out, then shared calls on the wire.
  const auto deadline = Clock::now() + grace;
  auto left = [&] {
    return std::max(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()), std::chrono::milliseconds(0));
  };
  for (auto& e : impl.endpoints) e->pool().wait_quiet(left());
  for (auto& e : impl.endpoints) e->shared().wait_drained(left());
  for (auto& e : impl.endpoints) e->shared().close();
}

}  // namespace cortex::pool
