#pragma once
// Logging: one process-wide, pluggable sink with a minimum level. Default: stderr, warnings and up.
// Library code logs lifecycle events at debug and trouble at warning/error — never a password,
// token or query variable. Thread-safe: the sink may be replaced at any time.
#include <functional>
#include <string>
#include <string_view>

namespace cortex {

enum class LogLevel { debug = 0, info, warning, error, off };

using LogSink = std::function<void(LogLevel level, std::string_view message)>;

/// Replaces the sink (nullptr = the default stderr sink) and the minimum level it receives.
void set_log_sink(LogSink sink, LogLevel min_level = LogLevel::warning);
/// True when a message at `level` would reach the sink (skip building costly messages otherwise).
bool log_enabled(LogLevel level) noexcept;
/// Sends `message` to the sink when `level` is at or above the minimum.
void log(LogLevel level, std::string_view message);
const char* to_string(LogLevel level) noexcept;

}  // namespace cortex
