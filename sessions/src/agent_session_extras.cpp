// AgentSession: the persisted transaction log and live queries that survive reconnects.
#include "agent_session_impl.hpp"

#include <atomic>
#include <future>
#include <random>

// After the standard headers: Asio picks its handler allocator (aligned_alloc or operator new)
// from what libstdc++ has declared by then, and every translation unit must pick the same.
#include <asio/steady_timer.hpp>

#include "cortex/storage/block_on.hpp"
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/log.hpp"
#include "transaction_log_rows.hpp"

namespace cortex::sessions {

using storage::Value;

std::string error_text(std::error_code ec, const Value& v) {
  if (v.is<std::string>()) return v.get<std::string>();
  if (v["message"].is<std::string>()) return v["message"].get<std::string>();
  return ec.message();
}

namespace {

Value log_id(const std::string& id) { return Value(storage::RecordId{"_cortex_txlog", storage::Box<Value>(Value(id))}); }

}  // namespace

// -- transaction log --------------------------------------------------------------------------

void AgentSession::Impl::open_log() {
  call(storage::rpc::query("DEFINE TABLE IF NOT EXISTS _cortex_txlog SCHEMALESS")).is_none();
  const auto row = storage::QueryResult::parse(
                       call(storage::rpc::query("SELECT count() AS n, math::max(seq) AS last FROM _cortex_txlog "
                                                "WHERE agent = $agent GROUP ALL",
                                                {{"agent", Value(agent)}})))
                       .at(0);
  std::lock_guard<std::mutex> lock(mu);
  if (row.is<storage::Array>() && !row.get<storage::Array>().empty()) {
    const auto& r = row.get<storage::Array>().front();
    if (r["n"].is<std::int64_t>()) log_size = static_cast<std::uint64_t>(r["n"].get<std::int64_t>());
    if (r["last"].is<std::int64_t>()) log_sequence = static_cast<std::uint64_t>(r["last"].get<std::int64_t>());
  }
}

// The log keeps at most max_transaction_log_size entries: room is made by deleting the oldest
// finished ones (committed or rolled back), a tenth of the limit at a time so that pruning is rare.
void AgentSession::Impl::prune_log() {
  const auto limit = limits.max_transaction_log_size;
  const auto batch = static_cast<std::int64_t>(std::max<std::size_t>(1, limit / 10));
  const auto removed = storage::QueryResult::parse(
                           call(storage::rpc::query(
                               // The ids first: a subquery in DELETE's WHERE would run again per row,
                               // seeing the deletions so far, and take more than a batch.
                               "LET $cortex_prune = (SELECT id, seq FROM _cortex_txlog WHERE agent = $agent "
                               "AND status != 'pending' ORDER BY seq LIMIT $batch).id; DELETE $cortex_prune RETURN BEFORE",
                               {{"agent", Value(agent)}, {"batch", Value(batch)}})))
                           .at(1);
  const std::size_t n = removed.is<storage::Array>() ? removed.get<storage::Array>().size() : 0;
  std::lock_guard<std::mutex> lock(mu);
  log_size -= std::min<std::uint64_t>(n, log_size);
}

std::string AgentSession::record_transaction(TransactionOperation op) {
  std::uint64_t seq;
  bool full;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    full = impl_->limits.max_transaction_log_size && impl_->log_size >= impl_->limits.max_transaction_log_size;
  }
  if (full) impl_->prune_log();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->limits.max_transaction_log_size && impl_->log_size >= impl_->limits.max_transaction_log_size) {
      ++impl_->limit_refusals;
      throw Error(make_error_code(Errc::limit_exceeded),
                  "agent '" + impl_->agent + "' has max_transaction_log_size (" +
                      std::to_string(impl_->limits.max_transaction_log_size) + ") log entries, all still pending");
    }
    seq = ++impl_->log_sequence;
    ++impl_->log_size;
  }
  const std::string id = storage::Uuid::random().to_string();
  auto row = to_row(impl_->agent, seq, op);
  row["txid"] = Value(id);
  try {
    call(storage::rpc::create(log_id(id), Value(std::move(row))));
  } catch (...) {
    std::lock_guard<std::mutex> lock(impl_->mu);
    --impl_->log_size;
    throw;
  }
  return id;
}

namespace {

void set_status(AgentSession& s, const std::string& id, const char* status) {
  const auto r = s.query("UPDATE $id SET status = $status WHERE agent = $agent AND status = 'pending' RETURN AFTER",
                         {{"id", log_id(id)}, {"status", Value(status)}, {"agent", Value(s.agent_id())}})
                     .at(0);
  if (!r.is<storage::Array>() || r.get<storage::Array>().empty()) {
    throw Error(make_error_code(Errc::invalid_argument), "no pending transaction '" + id + "' in agent '" + s.agent_id() + "''s log");
  }
}

}  // namespace

void AgentSession::commit_transaction(const std::string& id) { set_status(*this, id, "committed"); }
void AgentSession::rollback_transaction(const std::string& id) { set_status(*this, id, "rolled_back"); }

std::vector<TransactionRecord> AgentSession::transaction_history() {
  const auto rows = query("SELECT * FROM _cortex_txlog WHERE agent = $agent ORDER BY seq", {{"agent", Value(impl_->agent)}}).at(0);
  std::vector<TransactionRecord> out;
  if (rows.is<storage::Array>()) {
    for (const auto& r : rows.get<storage::Array>()) out.push_back(from_row(r));
  }
  return out;
}

// -- live queries -----------------------------------------------------------------------------

std::shared_ptr<AgentSession::Impl::Bound> AgentSession::Impl::bind_blocking() {
  auto [ec, why, b] = storage::block_on<std::error_code, const std::string&, std::shared_ptr<Bound>>(
      [&](auto done) { with_binding(std::move(done)); });
  if (ec) throw Error(ec, why);
  return b;
}

// Issues (or re-issues) one subscription's LIVE SELECT on the current binding. Blocking.
void AgentSession::Impl::issue_live(const std::string& key) {
  auto b = bind_blocking();
  std::string table;
  storage::NotificationHandler handler;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = subs.find(key);
    if (it == subs.end() || it->second.generation == b->generation) return;  // gone, or current
    table = it->second.table;
    handler = it->second.handler;
  }
  const auto live_id = b->conn->live(Value(storage::Table{table}), handler, false, b->options());
  std::lock_guard<std::mutex> lock(mu);
  auto it = subs.find(key);
  if (it == subs.end()) return;
  it->second.live_id = live_id;
  it->second.generation = b->generation;
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
  const auto& policy = manager->config().pool_config.retry_policy;
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

storage::Uuid AgentSession::live(const std::string& table, storage::NotificationHandler on_notify) {
  storage::refuse_on_io_thread(impl_->io, "agent session live()");
  const auto id = storage::Uuid::random();
  const std::string key = id.to_string();
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->subs[key] = Impl::Subscription{table, std::move(on_notify), std::nullopt, 0};
  }
  try {
    impl_->issue_live(key);
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
