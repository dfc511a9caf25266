// AgentSession's live queries: subscriptions that survive reconnects — re-issued on each new
// binding, with RetryPolicy's backoff on the io_context's timers between failed passes.
#include "agent_session_impl.hpp"

#include <random>

// After the standard headers: Asio picks its handler allocator (aligned_alloc or operator new)
// from what libstdc++ has declared by then, and every translation unit must pick the same.
#include <asio/steady_timer.hpp>

#include "cortex/storage/block_on.hpp"
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/log.hpp"

namespace cortex::sessions {

using storage::Value;

// -- live queries -----------------------------------------------------------------------------

// Issues (or re-issues) one subscription's LIVE SELECT on the current binding. Blocking, and by
// `at` whatever happens beneath: as a call's, its one CallDeadline races the wait for a binding
// (which may wait for a whole connect), and the request itself gets what is left of it.
void AgentSession::Impl::issue_live(const std::string& key, std::chrono::steady_clock::time_point at) {
  auto deadline = std::make_shared<CallDeadline>();
  deadline->at = at;
  auto [ec, v] = storage::block_on<std::error_code, Value>([&](auto done) {
    auto answer = [deadline, done](std::error_code e, Value r) {
      if (deadline->claim_answer()) done(e, std::move(r));
    };
    pool::detail::arm_deadline(io, deadline, [answer] {
      answer(make_error_code(Errc::pool_timeout), Value(std::string("live query not sent before its deadline (waiting for a connection)")));
    });
    with_binding([weak = weak_from_this(), key, deadline, answer](std::error_code bec, const std::string& why, std::shared_ptr<Bound> b) {
      auto self = weak.lock();
      if (!self) return answer(make_error_code(Errc::pool_closed), Value(std::string("the agent session is gone")));
      if (bec) return answer(bec, Value(why));
      std::string table;
      storage::NotificationHandler handler;
      {
        std::lock_guard<std::mutex> lock(self->mu);
        auto it = self->subs.find(key);
        if (it == self->subs.end() || it->second.generation == b->generation) return answer({}, Value());  // gone, or current
        table = it->second.table;
        handler = it->second.handler;
      }
      auto o = b->options();
      if (!may_send(*deadline, o.timeout)) return answer(make_error_code(Errc::pool_timeout), Value(std::string("deadline passed before sending")));
      b->conn->async_live(Value(storage::Table{table}), std::move(handler), false, o,
                          [weak, key, gen = b->generation, answer](std::error_code lec, Value lv) {
                            if (!lec && !lv.is<storage::Uuid>()) {
                              return answer(make_error_code(Errc::protocol_error), Value(std::string("live returned ") + lv.type_name()));
                            }
                            if (!lec) {
                              if (auto s = weak.lock()) {
                                std::lock_guard<std::mutex> lock(s->mu);
                                auto it = s->subs.find(key);
                                if (it != s->subs.end()) {
                                  it->second.live_id = lv.get<storage::Uuid>();
                                  it->second.generation = gen;
                                }
                              }
                            }
                            answer(lec, std::move(lv));
                          });
    });
  });
  storage::finish_blocking_call(ec, std::move(v));
}

// After a reconnect every subscription is issued again on the new binding, asynchronously (this
// runs from io handlers); while that fails (the server is still down) passes repeat after the
// RetryPolicy's backoff, on a timer of the manager's io_context.
void AgentSession::Impl::reissue_lives() {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (relive_running || closed || subs.empty()) return;
    relive_running = true;
    relive_attempt = 0;
  }
  relive_pass();
}

void AgentSession::Impl::relive_pass() {
  with_binding([weak = weak_from_this()](std::error_code ec, const std::string& why, std::shared_ptr<Bound> b) {
    auto self = weak.lock();
    if (!self) return;
    if (ec == make_error_code(Errc::pool_closed)) {  // the manager is shut down or gone: for good
      std::lock_guard<std::mutex> lock(self->mu);
      self->relive_running = false;
      return;
    }
    if (ec) {
      log(LogLevel::debug, "agent session: re-issuing live queries waits for a connection: " + why);
      return self->relive_later();
    }
    std::vector<std::pair<std::string, Subscription>> stale;
    {
      std::lock_guard<std::mutex> lock(self->mu);
      if (self->closed) {
        self->relive_running = false;
        return;
      }
      for (const auto& [k, s] : self->subs) {
        if (s.generation != b->generation) stale.emplace_back(k, s);
      }
      if (stale.empty()) {  // every subscription lives on the current binding
        self->relive_running = false;
        return;
      }
    }
    auto left = std::make_shared<std::atomic<std::size_t>>(stale.size());
    auto failed = std::make_shared<std::atomic<bool>>(false);
    for (auto& [key, sub] : stale) {
      b->conn->async_live(Value(storage::Table{sub.table}), sub.handler, false, b->options(),
                          [weak, key = key, gen = b->generation, left, failed](std::error_code lec, Value v) {
                            auto s = weak.lock();
                            if (!s) return;
                            if (!lec && v.is<storage::Uuid>()) {
                              std::lock_guard<std::mutex> lock(s->mu);
                              auto it = s->subs.find(key);
                              if (it != s->subs.end()) {
                                it->second.live_id = v.get<storage::Uuid>();
                                it->second.generation = gen;
                              }
                            } else {
                              failed->store(true);
                            }
                            if (left->fetch_sub(1) != 1) return;
                            // All answered: again at once if the binding changed meanwhile, later if any failed.
                            if (failed->load()) return s->relive_later();
                            s->relive_pass();
                          });
    }
  });
}

void AgentSession::Impl::relive_later() {
  const auto& policy = retry_policy;
  std::uint32_t attempt;
  {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) {
      relive_running = false;
      return;
    }
    attempt = ++relive_attempt;
  }
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const auto wait = policy.backoff(std::min<std::uint32_t>(attempt, 64), std::uniform_real_distribution<double>(0.0, 1.0)(rng));
  auto timer = std::make_shared<asio::steady_timer>(io, wait);
  timer->async_wait([weak = weak_from_this(), timer](const std::error_code&) {
    if (auto self = weak.lock()) self->relive_pass();
  });
}

storage::Uuid AgentSession::live(const std::string& table, storage::NotificationHandler on_notify,
                                std::chrono::milliseconds timeout) {
  storage::refuse_on_io_thread(impl_->io, "agent session live()");
  const auto at = Impl::deadline_after(timeout);
  const auto id = storage::Uuid::random();
  const std::string key = id.to_string();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->subs[key] = Impl::Subscription{table, std::move(on_notify), std::nullopt, 0};
  }
  try {
    impl_->issue_live(key, at);
  } catch (...) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->subs.erase(key);
    throw;
  }
  return id;
}

void AgentSession::kill(storage::Uuid subscription) {
  std::optional<storage::Uuid> live_id;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    auto it = impl_->subs.find(subscription.to_string());
    if (it == impl_->subs.end()) return;
    live_id = it->second.live_id;
    impl_->subs.erase(it);
  }
  if (live_id) call(storage::rpc::kill(*live_id));
}

}  // namespace cortex::sessions
