// ConnectionManager: Local mode over one ConnectionPool plus a few shared, multiplexed connections
// for stateless calls.
#include "cortex/pool/connection_manager.hpp"

#include <asio/io_context.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/local_server.hpp"
#include "cortex/storage/url.hpp"

namespace cortex::pool {

using storage::RpcConnection;

struct ConnectionManager::Impl {
  DatabaseConfig config;
  std::unique_ptr<storage::LocalServer> local;  // declared first: destroyed last
  storage::IoRunner io;
  std::string url;
  std::shared_ptr<metrics::PoolMetrics> metrics = std::make_shared<metrics::PoolMetrics>();
  std::shared_ptr<ConnectionPool> pool;

  std::mutex shared_mu;  // guards `shared` (connections are themselves thread-safe)
  std::vector<std::shared_ptr<RpcConnection>> shared;
  std::atomic<bool> closed{false};

  Impl(DatabaseConfig c, unsigned threads) : config(std::move(c)), io(threads) {}

  SessionDefaults defaults() const { return {config.namespace_, config.database, config.credentials}; }

  // A shared connection: connect, signin, use — blocking, on the caller's thread.
  std::shared_ptr<RpcConnection> open_shared() {
    storage::ConnectOptions o;
    o.connect_timeout = config.pool_config.connection_timeout;
    auto c = RpcConnection::connect(io.context(), url, o);
    if (config.credentials) c->call(storage::rpc::signin(*config.credentials));
    for (int conflicts = 0;; ++conflicts) {
      try {
        c->call(storage::rpc::use(config.namespace_, config.database));
        break;
      } catch (const Error& e) {
        // A concurrent first `use` of the same new namespace: the server asks for a retry.
        if (conflicts >= 5 || !is_retryable_conflict(e.what())) throw;
      }
    }
    metrics->connections_created.fetch_add(1, std::memory_order_relaxed);
    return c;
  }

  // The least-loaded open shared connection; dead ones are replaced on the way.
  std::shared_ptr<RpcConnection> pick_shared() {
    if (closed.load()) throw Error(make_error_code(Errc::pool_closed), "the connection manager is shut down");
    std::lock_guard<std::mutex> lock(shared_mu);
    for (auto& c : shared) {
      if (!c || !c->is_open()) c = open_shared();  // throws the connect error while the server is down
    }
    auto best = std::min_element(shared.begin(), shared.end(),
                                 [](const auto& a, const auto& b) { return a->in_flight() < b->in_flight(); });
    return *best;
  }
};

ConnectionManager::ConnectionManager(DatabaseConfig config, unsigned io_threads) {
  config.validate();
  impl_ = std::make_unique<Impl>(std::move(config), io_threads);
  auto& impl = *impl_;
  const auto& local = std::get<ConnectionMode::Local>(impl.config.connection_mode.mode);
  const auto ep = storage::parse_endpoint(local.endpoint);
  if (ep.is_local()) {
    storage::LocalServerOptions o;
    o.store = ep.scheme == storage::Scheme::mem ? "mem://" : "surrealkv://" + ep.path;
    if (impl.config.credentials && impl.config.credentials->ns.empty()) {
      o.user = impl.config.credentials->user;  // the embedded engine defines this root user
      o.pass = impl.config.credentials->pass;
    }
    impl.local = std::make_unique<storage::LocalServer>(o);
    impl.url = impl.local->url();
  } else {
    impl.url = ep.websocket_url();
  }
  ConnectionPoolParams p;
  p.url = impl.url;
  p.config = impl.config.pool_config;
  p.defaults = impl.defaults();
  p.schema = impl.config.schema;
  p.health_check_interval = impl.config.health_check_interval;
  p.validate_after_idle = impl.config.validate_after_idle;
  p.leak_threshold = impl.config.leak_threshold;
  impl.pool = ConnectionPool::create(impl.io.context(), p, impl.metrics);
  impl.shared.resize(impl.config.shared_connections);  // opened on first use
}

ConnectionManager::~ConnectionManager() { shutdown(std::chrono::milliseconds(0)); }

PooledConnection ConnectionManager::acquire(const char* file, int line) { return impl_->pool->acquire(file, line); }

void ConnectionManager::async_acquire(std::function<void(std::error_code, PooledConnection)> handler, const char* file,
                                      int line) {
  impl_->pool->async_acquire(std::move(handler), file, line);
}

storage::Value ConnectionManager::call(storage::Request request, storage::RequestOptions options) {
  const auto start = std::chrono::steady_clock::now();
  auto conn = impl_->pick_shared();
  auto v = conn->call(std::move(request), std::move(options));
  impl_->metrics->request_time.record(std::chrono::steady_clock::now() - start);
  return v;
}

storage::QueryResult ConnectionManager::query(std::string sql, storage::Object vars, storage::RequestOptions options) {
  return storage::QueryResult::parse(call(storage::rpc::query(std::move(sql), std::move(vars)), std::move(options)));
}

void ConnectionManager::async_call(storage::Request request, storage::RequestOptions options, storage::Handler handler) {
  std::shared_ptr<RpcConnection> conn;
  try {
    conn = impl_->pick_shared();
  } catch (const Error& e) {
    return handler(e.code(), storage::Value(std::string(e.what())));
  }
  const auto start = std::chrono::steady_clock::now();
  conn->async_call(std::move(request), std::move(options),
                   [m = impl_->metrics, start, handler = std::move(handler)](std::error_code ec, storage::Value v) {
                     m->request_time.record(std::chrono::steady_clock::now() - start);
                     handler(ec, std::move(v));
                   });
}

bool ConnectionManager::should_retry(std::error_code ec, const RetryOptions& o) const noexcept {
  if (is_safe_to_retry(ec)) return true;  // surely never reached the server
  if (!o.idempotent) return false;
  return ec == make_error_code(Errc::timeout) || ec == make_error_code(Errc::connection_lost) ||
         ec == make_error_code(Errc::not_connected);
}

std::uint32_t ConnectionManager::max_attempts() const noexcept { return impl_->config.pool_config.retry_policy.max_attempts; }

std::chrono::milliseconds ConnectionManager::backoff(std::uint32_t retry) const {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return impl_->config.pool_config.retry_policy.backoff(retry, std::uniform_real_distribution<double>(0.0, 1.0)(rng));
}

HealthStatus ConnectionManager::health_status() const {
  const auto st = impl_->pool->status();
  EndpointHealth e;
  e.url = impl_->url;
  e.size = st.size;
  e.idle = st.idle;
  e.in_use = st.in_use;
  e.waiters = st.waiters;
  e.healthy = !st.closed && (st.size > 0 || !st.last_error);
  e.last_error = st.last_error ? st.last_error.message() : "";
  HealthStatus h;
  h.healthy = e.healthy;
  h.pool_size = st.size;
  h.available_connections = st.idle;
  h.in_use = st.in_use;
  h.waiters = st.waiters;
  h.endpoints.push_back(std::move(e));
  return h;
}

bool ConnectionManager::wait_idle(std::chrono::milliseconds timeout) const { return impl_->pool->wait_quiet(timeout); }

metrics::PoolMetrics& ConnectionManager::metrics() const noexcept { return *impl_->metrics; }
const std::string& ConnectionManager::endpoint_url() const noexcept { return impl_->url; }

void ConnectionManager::shutdown(std::chrono::milliseconds grace) {
  auto& impl = *impl_;
  if (impl.closed.exchange(true)) return;
  impl.pool->shutdown();  // waiters woken with pool_closed; idle connections close
  // Give in-flight work its grace: leases still out, then shared calls in flight.
  const auto deadline = std::chrono::steady_clock::now() + grace;
  impl.pool->wait_quiet(grace);
  auto shared_busy = [&] {
    std::lock_guard<std::mutex> lock(impl.shared_mu);
    for (const auto& c : impl.shared) {
      if (c && c->in_flight() > 0) return true;
    }
    return false;
  };
  // Shared connections report no completion event, so their drain is polled (bounded by grace).
  while (shared_busy() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  {
    std::lock_guard<std::mutex> lock(impl.shared_mu);
    for (auto& c : impl.shared) {
      if (c) c->close();
    }
  }
}

std::string HealthStatus::to_json() const {
  nlohmann::json eps = nlohmann::json::array();
  for (const auto& e : endpoints) {
    eps.push_back({{"url", e.url}, {"healthy", e.healthy}, {"size", e.size}, {"idle", e.idle}, {"in_use", e.in_use},
                   {"waiters", e.waiters}, {"circuit_breaker_state", e.circuit_breaker_state}, {"last_error", e.last_error}});
  }
  return nlohmann::json{{"healthy", healthy}, {"pool_size", pool_size}, {"available_connections", available_connections},
                        {"in_use", in_use}, {"waiters", waiters}, {"circuit_breaker_state", circuit_breaker_state},
                        {"endpoints", eps}}
      .dump();
}

}  // namespace cortex::pool
