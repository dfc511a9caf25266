// Routing: which endpoint takes a piece of work (the order: breaker, then the Hybrid cache or the
// strategy's pure choice over health and load), and the one failover loop that shared calls,
// shared connections (for sessions) and leases all run. When every endpoint fails, the error names
// each one tried and why.
#include <algorithm>

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

std::shared_ptr<ConnectionManager::Impl::Failover> ConnectionManager::Impl::new_failover() {
  auto f = std::make_shared<Failover>();
  f->tried.assign(endpoints.size(), false);
  return f;
}

/// Tries endpoints in the order `choose` gives (the strategy's pure choice over the breakers and
/// health scores), each at most once, until the work is done or none is left.
void ConnectionManager::Impl::run(std::shared_ptr<Failover> f) {
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
  Endpoint& ep = *endpoints[*idx];
  f->attempt(ep, untried_left(f->tried), [weak = weak_from_this(), f, &ep](std::error_code ec, const std::string& why) {
    f->last = ec;
    f->reasons.push_back(ep.url() + ": " + why);
    auto self = weak.lock();
    if (!self || self->closed || !self->untried_left(f->tried)) return f->exhausted(ec, f->summary());
    self->metrics->failovers.fetch_add(1);
    self->metrics->emit({metrics::PoolEventKind::failover, ep.url(), {}, {}, ec, why});
    self->run(f);
  });
}

bool ConnectionManager::Impl::untried_left(const std::vector<bool>& tried) const {
  return std::find(tried.begin(), tried.end(), false) != tried.end();
}

// -- the three kinds of work ----------------------------------------------------------------

void ConnectionManager::Impl::route_call(storage::Request request, storage::RequestOptions options, storage::Handler handler) {
  auto f = new_failover();
  auto req = std::make_shared<storage::Request>(std::move(request));
  auto h = std::make_shared<storage::Handler>(std::move(handler));
  f->exhausted = [h](std::error_code ec, const std::string& why) { (*h)(ec, storage::Value(why)); };
  f->attempt = [weak = weak_from_this(), req, options, h](Endpoint& ep, bool others_left, auto next) {
    // Kept for a resend only when another endpoint could take it.
    storage::Request r = others_left ? *req : std::move(*req);
    const auto start = Clock::now();
    ep.shared().async_call(std::move(r), options, [weak, &ep, start, h, next](std::error_code ec, storage::Value v) {
      if (weak.lock()) ep.record(ec, Clock::now() - start);
      // Never written to the server: safe to send elsewhere.
      if (ec && is_safe_to_retry(ec)) return next(ec, v.is<std::string>() ? v.get<std::string>() : ec.message());
      (*h)(ec, std::move(v));
    });
  };
  run(std::move(f));
}


void ConnectionManager::Impl::route_connection(ConnHandler then) {
  auto f = new_failover();
  auto h = std::make_shared<ConnHandler>(std::move(then));
  f->exhausted = [h](std::error_code ec, const std::string& why) { (*h)(ec, why, nullptr); };
  f->attempt = [weak = weak_from_this(), h](Endpoint& ep, bool, auto next) {
    const auto start = Clock::now();
    ep.shared().async_connection([weak, &ep, start, h, next](std::error_code ec, const std::string& why,
                                                             std::shared_ptr<storage::RpcConnection> c) {
      if (weak.lock()) ep.record(ec, Clock::now() - start);
      if (ec && is_safe_to_retry(ec)) return next(ec, why);
      (*h)(ec, why, std::move(c));
    });
  };
  run(std::move(f));
}


void ConnectionManager::Impl::route_acquire(LeaseHandler done, const char* file, int line) {
  if (closed.load()) return done(make_error_code(Errc::pool_closed), "the connection manager is shut down", {});
  auto f = new_failover();
  auto h = std::make_shared<LeaseHandler>(std::move(done));
  f->exhausted = [h](std::error_code ec, const std::string& why) { (*h)(ec, why, PooledConnection{}); };
  f->attempt = [weak = weak_from_this(), h, file, line](Endpoint& ep, bool, auto next) {
    const auto start = Clock::now();
    ep.pool().async_acquire(
        [weak, &ep, start, h, next](std::error_code ec, PooledConnection lease) {
          auto self = weak.lock();
          if (!self) return (*h)(ec, ec ? ec.message() : "", std::move(lease));
          const bool busy = ec == make_error_code(Errc::pool_timeout) || ec == make_error_code(Errc::pool_closed) ||
                            ec == make_error_code(Errc::pool_exhausted);
          if (busy) ep.unadmit();  // busy or closed says nothing about the endpoint's health
          else ep.record(ec, Clock::now() - start);
          const std::string why = ec ? ep.pool().describe(ec) : std::string();
          // Could not reach this endpoint (connect failed…): another may serve the lease. A busy
          // pool is not failed over: its waiters keep their FIFO place and deadline.
          if (ec && !busy && is_safe_to_retry(ec)) return next(ec, why);
          (*h)(ec, why, std::move(lease));
        },
        file, line);
  };
  run(std::move(f));
}

}  // namespace cortex::pool
