#include "cortex/storage/log.hpp"

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>

namespace cortex {
namespace {

struct State {
  std::mutex mu;
  std::shared_ptr<const LogSink> sink;  // copied out under the lock, called outside it
  std::atomic<int> min_level{static_cast<int>(LogLevel::warning)};
};

State& state() {
  static State s;
  return s;
}

void stderr_sink(LogLevel level, std::string_view message) {
  std::fprintf(stderr, "[cortex %s] %.*s\n", to_string(level), static_cast<int>(message.size()), message.data());
}

}  // namespace

const char* to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warning: return "warning";
    case LogLevel::error: return "error";
    case LogLevel::off: return "off";
  }
  return "?";
}

void set_log_sink(LogSink sink, LogLevel min_level) {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  s.sink = sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr;
  s.min_level.store(static_cast<int>(min_level));
}

bool log_enabled(LogLevel level) noexcept {
  return level != LogLevel::off && static_cast<int>(level) >= state().min_level.load(std::memory_order_relaxed);
}

void log(LogLevel level, std::string_view message) {
  if (!log_enabled(level)) return;
  std::shared_ptr<const LogSink> sink;
  {
    std::lock_guard<std::mutex> lock(state().mu);
    sink = state().sink;
  }
  if (sink) (*sink)(level, message);
  else stderr_sink(level, message);
}

}  // namespace cortex
