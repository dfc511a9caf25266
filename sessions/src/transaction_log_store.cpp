// AgentSession's transaction log as kept in the `_cortex_txlog` table: recording, status updates,
// history, and the bound on what is kept (oldest finished entries pruned).
#include "agent_session_impl.hpp"

#include <atomic>

// After the standard headers: Asio picks its handler allocator (aligned_alloc or operator new)
// from what libstdc++ has declared by then, and every translation unit must pick the same.
#include <asio/steady_timer.hpp>

#include "cortex/storage/block_on.hpp"
#include "cortex/storage/log.hpp"
#include "transaction_log_rows.hpp"

namespace cortex::sessions {

using storage::Value;

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

}  // namespace cortex::sessions
