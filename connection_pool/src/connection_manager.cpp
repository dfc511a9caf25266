// ConnectionManager: Local mode over one ConnectionPool plus a few shared, multiplexed connections
// for stateless calls.
#include "cortex/pool/connection_manager.hpp"

#include <asio/io_context.hpp>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>

#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/local_server.hpp"
#include "cortex/storage/url.hpp"
#include "shared_lane.hpp"

namespace cortex::pool {

using storage::RpcConnection;

struct ConnectionManager::Impl {
  DatabaseConfig config;
  std::unique_ptr<storage::LocalServer> local;  // declared first: destroyed last
  // Shared: pools (kept alive by leases that outlive the manager) hold it too.
  std::shared_ptr<storage::IoRunner> io;
  std::string url;
  std::shared_ptr<metrics::PoolMetrics> metrics = std::make_shared<metrics::PoolMetrics>();
  std::shared_ptr<ConnectionPool> pool;
  std::shared_ptr<SharedLane> shared;
  std::atomic<bool> closed{false};

  Impl(DatabaseConfig c, unsigned threads) : config(std::move(c)), io(std::make_shared<storage::IoRunner>(threads)) {}
  ~Impl() {
    // The lane's connections close now; the pool lives on while leases hold it.
    if (shared) shared->close();
  }

  SessionDefaults defaults() const { return {config.namespace_, config.database, config.credentials}; }
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
  p.keep_alive = impl.io;
  impl.pool = ConnectionPool::create(impl.io->context(), p, impl.metrics);
  SharedLaneParams sp;
  sp.url = impl.url;
  sp.connections = impl.config.shared_connections;  // opened on first use
  sp.connect.connect_timeout = impl.config.pool_config.connection_timeout;
  sp.defaults = impl.defaults();
  sp.reconnect = impl.config.pool_config.retry_policy;
  sp.metrics = impl.metrics;
  impl.shared = SharedLane::create(impl.io->context(), sp);
}

ConnectionManager::~ConnectionManager() { shutdown(std::chrono::milliseconds(0)); }

PooledConnection ConnectionManager::acquire(const char* file, int line) { return impl_->pool->acquire(file, line); }

void ConnectionManager::async_acquire(std::function<void(std::error_code, PooledConnection)> handler, const char* file,
                                      int line) {
  impl_->pool->async_acquire(std::move(handler), file, line);
}

storage::Value ConnectionManager::call(storage::Request request, storage::RequestOptions options) {
  storage::refuse_on_io_thread(impl_->io->context(), "call '" + request.method + "'");
  struct Outcome {
    std::error_code ec;
    storage::Value value;
  };
  std::promise<Outcome> done;
  auto fut = done.get_future();
  async_call(std::move(request), std::move(options),
             [&done](std::error_code ec, storage::Value v) { done.set_value({ec, std::move(v)}); });
  Outcome o = fut.get();
  if (o.ec) storage::throw_error(o.ec, o.value);
  return std::move(o.value);
}

storage::QueryResult ConnectionManager::query(std::string sql, storage::Object vars, storage::RequestOptions options) {
  return storage::QueryResult::parse(call(storage::rpc::query(std::move(sql), std::move(vars)), std::move(options)));
}

void ConnectionManager::async_call(storage::Request request, storage::RequestOptions options, storage::Handler handler) {
  if (impl_->closed.load()) {
    return handler(make_error_code(Errc::pool_closed), storage::Value(std::string("the connection manager is shut down")));
  }
  impl_->shared->async_call(std::move(request), std::move(options), std::move(handler));
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
  // In-flight work gets its grace: leases still out, then shared calls on the wire.
  const auto deadline = std::chrono::steady_clock::now() + grace;
  impl.pool->wait_quiet(grace);
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  impl.shared->wait_drained(std::max(left, std::chrono::milliseconds(0)));
  impl.shared->close();
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
