#pragma once
// The process's background decoder: CPU-heavy work taken off the io threads (decoding a frame of
// megabytes takes tens of milliseconds per MiB), so that their timers — every request's deadline
// — keep firing meanwhile. One thread for the whole process: it also means at most one huge frame
// is being turned into Values at a time, which bounds the memory such frames can take together.
#include <functional>

namespace cortex::storage::detail {

/// Runs `work` on the background decoder thread (started on first use). `work` must not throw.
void run_in_background(std::function<void()> work);

/// Tests only: `hook` runs on the background thread before each piece of work (nullptr: none).
void set_background_hook_for_testing(std::function<void()> hook);

}  // namespace cortex::storage::detail
