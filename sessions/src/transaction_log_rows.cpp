// Transaction log records <-> the rows kept in `_cortex_txlog`.
#include "transaction_log_rows.hpp"

namespace cortex::sessions {

using storage::Object;
using storage::Value;

const char* to_string(TransactionStatus s) noexcept {
  switch (s) {
    case TransactionStatus::Pending: return "pending";
    case TransactionStatus::Committed: return "committed";
    case TransactionStatus::RolledBack: return "rolled_back";
  }
  return "pending";
}

Object to_row(const std::string& agent, std::uint64_t sequence, const TransactionOperation& op) {
  Object row{{"agent", Value(agent)}, {"seq", Value(static_cast<std::int64_t>(sequence))}, {"status", Value("pending")}};
  std::visit(
      [&](const auto& o) {
        using O = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<O, TransactionOperation::Read>) {
          row["kind"] = Value("read");
          row["path"] = Value(o.path);
        } else if constexpr (std::is_same_v<O, TransactionOperation::Write>) {
          row["kind"] = Value("write");
          row["path"] = Value(o.path);
          row["content_hash"] = Value(o.content_hash);
        } else if constexpr (std::is_same_v<O, TransactionOperation::Delete>) {
          row["kind"] = Value("delete");
          row["path"] = Value(o.path);
        } else {
          row["kind"] = Value("query");
          row["text"] = Value(o.text);
        }
      },
      op.op);
  return row;
}

TransactionRecord from_row(const Value& row) {
  auto text = [&](const char* k) { return row[k].is<std::string>() ? row[k].get<std::string>() : std::string(); };
  TransactionRecord r;
  r.id = text("txid");
  r.sequence = row["seq"].is<std::int64_t>() ? static_cast<std::uint64_t>(row["seq"].get<std::int64_t>()) : 0;
  const std::string kind = text("kind"), status = text("status");
  if (kind == "read") r.operation.op = TransactionOperation::Read{text("path")};
  else if (kind == "write") r.operation.op = TransactionOperation::Write{text("path"), text("content_hash")};
  else if (kind == "delete") r.operation.op = TransactionOperation::Delete{text("path")};
  else r.operation.op = TransactionOperation::Query{text("text")};
  r.status = status == "committed" ? TransactionStatus::Committed
             : status == "rolled_back" ? TransactionStatus::RolledBack : TransactionStatus::Pending;
  return r;
}

}  // namespace cortex::sessions
