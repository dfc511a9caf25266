#pragma once
// How transaction log records are stored: one row per record in `_cortex_txlog` of the agent's
// namespace, id `_cortex_txlog:⟨uuid⟩`, with the agent, sequence, kind, fields and status.
#include <string>

#include "cortex/sessions/transaction_log.hpp"
#include "cortex/storage/value.hpp"

namespace cortex::sessions {

storage::Object to_row(const std::string& agent, std::uint64_t sequence, const TransactionOperation& op);
TransactionRecord from_row(const storage::Value& row);

}  // namespace cortex::sessions
