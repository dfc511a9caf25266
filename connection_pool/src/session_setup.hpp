#pragma once
// The session steps a pooled or shared connection starts with (signin, use, schema) and the
// runner that sends them one after another. Shared by ConnectionPool and SharedLane.
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "cortex/pool/connection_pool.hpp"
#include "cortex/storage/rpc.hpp"
#include "cortex/storage/rpc_connection.hpp"

namespace cortex::pool::detail {

/// signin (with the defaults' credentials), use (namespace, database), then the schema if any.
std::vector<storage::Request> session_steps(const SessionDefaults& defaults, const std::string& schema = {});

using StepsDone = std::function<void(std::error_code, const std::string& why)>;

/// Sends `steps` in order (session-mutating calls must finish before the next), retrying a step the
/// server reports as a retryable transaction conflict, and failing on any failed schema statement.
/// Holds the connection only weakly: a handler owning its own connection would keep it alive
/// forever if the io context stopped first. `why` never contains a step's parameters (secrets).
void run_steps(std::weak_ptr<storage::RpcConnection> conn, std::vector<storage::Request> steps, StepsDone done);

}  // namespace cortex::pool::detail
