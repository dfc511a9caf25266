#pragma once
// The agent's transaction log: operations it records, then commits or rolls back. Persisted in the
// agent's own namespace (table `_cortex_txlog`), so the history survives a restart of the process.
#include <chrono>
#include <cstdint>
#include <string>
#include <variant>

namespace cortex::sessions {

struct TransactionOperation {
  struct Read {
    std::string path;
  };
  struct Write {
    std::string path;
    std::string content_hash;
  };
  struct Delete {
    std::string path;
  };
  struct Query {
    std::string text;
  };
  std::variant<Read, Write, Delete, Query> op;
};

enum class TransactionStatus { Pending, Committed, RolledBack };
const char* to_string(TransactionStatus s) noexcept;

struct TransactionRecord {
  std::string id;  ///< unique (a UUID)
  std::uint64_t sequence = 0;  ///< order within the agent's log
  TransactionOperation operation;
  TransactionStatus status = TransactionStatus::Pending;
};

}  // namespace cortex::sessions
