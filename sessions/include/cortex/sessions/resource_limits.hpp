#pragma once
// ResourceLimits, as in the Cortex crate: what one agent session may use. Exceeding one is a typed
// error (Errc::limit_exceeded), never a silent drop. 0 = no limit. A transaction whose begin was
// let in is always ended: its commit or cancel is counted but never refused (a refused end would
// leave the transaction open on the server).
#include <cstddef>
#include <cstdint>

namespace cortex::sessions {

struct ResourceLimits {
  /// Operations of this agent in flight at once (beyond: refused at once). Default 64.
  std::size_t max_concurrent_operations = 64;
  /// Operations over the session's life. Default 0 (no limit).
  std::uint64_t max_operations = 0;
  /// Entries kept in the agent's transaction log. When it is full, record_transaction deletes the
  /// oldest finished entries (committed or rolled back) to make room; it is refused
  /// (limit_exceeded) only when every kept entry is still pending. Default 10,000.
  std::size_t max_transaction_log_size = 10000;
};

}  // namespace cortex::sessions
