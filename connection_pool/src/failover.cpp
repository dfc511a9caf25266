// Routing: which endpoint takes a piece of work (the order: breaker, then the Hybrid cache or the
// strategy's pure choice over health and load), and the one failover loop that shared calls,
// shared connections (for sessions) and leases all run. When every endpoint fails, the error names
// each one tried and why.
#include <algorithm>

#include "cortex/storage/rpc_methods.hpp"
#include "manager_impl.hpp"

namespace cortex::pool {

using Clock = std::chrono::steady_clock;

std::optional<std::size_t> ConnectionManager::Impl::choose(const std::vector<bool>& tried) {
  if (endpoints.size() == 1) return tried[0] ? std::nullopt : std::optional<std::size_t>(0);
  if (primary_first) {
    // Hybrid: the cache first while it is caught up; behind, it is the last resort (a stale
    // answer beats none when no remote can take the call).
    const bool cache_serving = !sync || sync->cache_serving();
    if (!cache_serving) sync->want_catch_up();
    for (std::size_t i = cache_serving ? 0 : 1; i < endpoints.size(); ++i) {
      if (!tried[i] && endpoints[i]->view(false, false).available) return i;
    }
    if (!cache_serving && !tried[0] && endpoints[0]->view(false, false).available) return 0;
    return std::nullopt;
  }
  // Only what the strategy reads: live counts for LeastConnections, scores for HealthBased.
  const bool with_active = lb.strategy() == LoadBalancingStrategy::LeastConnections;
  const bool with_score = lb.strategy() == LoadBalancingStrategy::HealthBased;
  std::vector<EndpointView> views;
  views.reserve(endpoints.size());
  for (auto& e : endpoints) views.push_back(e->view(with_active, with_score));
  std::lock_guard<std::mutex> lock(lb_mu);
  return lb.choose(views, std::uniform_real_distribution<double>(0.0, 1.0)(rng), &tried);
}

// -- the one failover loop ------------------------------------------------------------------

std::string ConnectionManager::Impl::Failover::summary() const {
  std::string out = reasons.size() == 1 ? "" : "no endpoint could take it: ";
  for (std::size_t i = 0; i < reasons.size(); ++i) out += (i ? "; " : "") + reasons[i];
  return out;
}

/// Tries endpoints in the order `choose` gives (the strategy's pure choice over the breakers and
/// health scores), each at most once, until the work is done or none is left.
void ConnectionManager::Impl::run(std::shared_ptr<Failover> f) {
  if (f->tried.empty()) {  // the first try
    f->owner = weak_from_this();
    f->tried.assign(endpoints.size(), false);
  }
  std::optional<std::size_t> idx;
  for (;;) {  // skip endpoints whose breaker refuses: they count as tried, with that reason
    idx = choose(f->tried);
    if (!idx) break;
    f->tried[*idx] = true;
    if (endpoints[*idx]->admit()) break;
    f->reasons.push_back(endpoints[*idx]->url() + ": circuit breaker open");
  }
  if (!idx) {
    const auto ec = f->last ? f->last : make_error_code(Errc::circuit_open);
    return f->exhausted(ec, f->reasons.empty() ? std::string("no endpoint to try") : f->summary());
  }
  f->ep = endpoints[*idx].get();
  f->started = Clock::now();
  const bool others_left = untried_left(f->tried);
  auto& work = *f;
  work.attempt(std::move(f), others_left);
}

void ConnectionManager::Impl::failed(std::shared_ptr<Failover> f, std::error_code ec, const std::string& why) {
  f->last = ec;
  auto self = f->owner.lock();
  if (!self) return f->exhausted(ec, why);  // its endpoints are gone with it
  f->reasons.push_back(f->ep->url() + ": " + why);
  if (self->closed || !self->untried_left(f->tried)) return f->exhausted(ec, f->summary());
  if (Clock::now() >= f->deadline) return f->exhausted(ec, f->summary() + " (the deadline passed before another endpoint was tried)");
  self->metrics->failovers.fetch_add(1);
  self->metrics->emit({metrics::PoolEventKind::failover, f->ep->url(), {}, {}, ec, why});
  self->run(std::move(f));
}

void ConnectionManager::Impl::record(const Failover& f, std::error_code ec) {
  if (auto self = f.owner.lock()) f.ep->record(ec, Clock::now() - f.started);
}

bool ConnectionManager::Impl::untried_left(const std::vector<bool>& tried) const {
  return std::find(tried.begin(), tried.end(), false) != tried.end();
}

// -- the three kinds of work ----------------------------------------------------------------

struct ConnectionManager::Impl::CallWork final : Failover {
  storage::Request request;
  storage::RequestOptions options;
  storage::Handler handler;
  CallWork(storage::Request r, storage::RequestOptions o, storage::Handler h)
      : request(std::move(r)), options(std::move(o)), handler(std::move(h)) {}

  void attempt(std::shared_ptr<Failover> self, bool others_left) override {
    // Kept for a resend only when another endpoint could take it.
    storage::Request r = others_left ? request : std::move(request);
    storage::RequestOptions o = options;
    o.timeout = left();
    ep->shared().async_call(std::move(r), std::move(o), [self = std::move(self)](std::error_code ec, storage::Value v) mutable {
      auto& w = static_cast<CallWork&>(*self);
      record(w, ec);
      // Never written to the server, or a read the endpoint lost (sent again, it changes
      // nothing): another endpoint may take it, within what is left of the deadline.
      const bool lost_read = ec == make_error_code(Errc::connection_lost) &&
                             storage::rpc::method_facts(w.request.method).safe_to_resend;
      if (ec && (is_safe_to_retry(ec) || lost_read)) {
        return failed(std::move(self), ec, v.is<std::string>() ? v.get<std::string>() : ec.message());
      }
      w.handler(ec, std::move(v));
    });
  }
  void exhausted(std::error_code ec, const std::string& why) override { handler(ec, storage::Value(why)); }
};

struct ConnectionManager::Impl::ConnectionWork final : Failover {
  ConnHandler handler;
  explicit ConnectionWork(ConnHandler h) : handler(std::move(h)) {}

  void attempt(std::shared_ptr<Failover> self, bool) override {
    const auto until = deadline;
    ep->shared().async_connection([self = std::move(self)](std::error_code ec, const std::string& why,
                                                           std::shared_ptr<storage::RpcConnection> c) mutable {
      auto& w = static_cast<ConnectionWork&>(*self);
      record(w, ec);
      if (ec && is_safe_to_retry(ec)) return failed(std::move(self), ec, why);
      w.handler(ec, why, std::move(c));
    }, until);
  }
  void exhausted(std::error_code ec, const std::string& why) override { handler(ec, why, nullptr); }
};

struct ConnectionManager::Impl::LeaseWork final : Failover {
  LeaseHandler handler;
  const char* file;
  int line;
  LeaseWork(LeaseHandler h, const char* f, int l) : handler(std::move(h)), file(f), line(l) {}

  void attempt(std::shared_ptr<Failover> self, bool) override {
    const auto until = deadline;
    ep->pool().acquire_until(
        until, [self = std::move(self)](std::error_code ec, PooledConnection lease) mutable {
          auto& w = static_cast<LeaseWork&>(*self);
          if (!w.owner.lock()) return w.handler(ec, ec ? ec.message() : "", std::move(lease));
          const bool busy = ec == make_error_code(Errc::pool_timeout) || ec == make_error_code(Errc::pool_closed) ||
                            ec == make_error_code(Errc::pool_exhausted);
          if (busy) w.ep->unadmit();  // busy or closed says nothing about the endpoint's health
          else record(w, ec);
          const std::string why = ec ? w.ep->pool().describe(ec) : std::string();
          // Could not reach this endpoint (connect failed…): another may serve the lease. A busy
          // pool is not failed over: its waiters keep their FIFO place and deadline.
          if (ec && !busy && is_safe_to_retry(ec)) return failed(std::move(self), ec, why);
          w.handler(ec, why, std::move(lease));
        },
        file, line);
  }
  void exhausted(std::error_code ec, const std::string& why) override { handler(ec, why, PooledConnection{}); }
};

void ConnectionManager::Impl::route_call(storage::Request request, storage::RequestOptions options, storage::Handler handler) {
  const auto timeout = options.timeout.count() > 0 ? options.timeout : endpoints.front()->shared().default_timeout();
  auto work = std::make_shared<CallWork>(std::move(request), std::move(options), std::move(handler));
  work->deadline = Clock::now() + timeout;
  run(std::move(work));
}

void ConnectionManager::Impl::route_connection(ConnHandler then) {
  auto work = std::make_shared<ConnectionWork>(std::move(then));
  work->deadline = Clock::now() + config.pool_config.connection_timeout;  // as one pool's acquire
  run(std::move(work));
}

void ConnectionManager::Impl::route_acquire(LeaseHandler done, const char* file, int line) {
  if (closed.load()) return done(make_error_code(Errc::pool_closed), "the connection manager is shut down", {});
  auto work = std::make_shared<LeaseWork>(std::move(done), file, line);
  work->deadline = Clock::now() + config.pool_config.connection_timeout;
  run(std::move(work));
}

}  // namespace cortex::pool
