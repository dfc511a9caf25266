#pragma once
// LocalServer: runs a SurrealDB server as a child process on this machine — a `surreal` binary
// when one is on PATH, otherwise the project's tools/surrealdb-local (SurrealDB's engine from npm
// @surrealdb/node, served over WebSocket). It picks a free port, waits until /health answers, and
// stops the server when destroyed. Also the fault-injection handle for tests: kill -9, SIGSTOP,
// restart on the same port and store.
// Thread-safety: not thread-safe; one owner drives it. The child lives as long as this object,
// whichever thread started it (a thread that ends takes nothing with it), and dies with this
// process, a crash or kill -9 included.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "cortex/storage/url.hpp"

namespace cortex::storage {

/// The local engine's directory LocalServer uses when LocalServerOptions::server_dir is empty: the
/// first of $CORTEX_SURREALDB_LOCAL_DIR, <executable's dir>/../share/cortex_storage/surrealdb-local,
/// the install prefix's share/cortex_storage/surrealdb-local, and the source tree it was built from
/// that holds server.js. Throws Error(server_start_failed) naming every place looked at.
std::string local_engine_dir();

struct LocalServerOptions {
  /// "mem://" (default), "surrealkv://DIR" or "rocksdb://DIR" (persistent; survive restart() and
  /// kill()).
  std::string store = "mem://";
  /// SurrealDB generation of the npm engine: 3 (SurrealDB 3.0.2, default) or 2 (SurrealDB 2.1.1,
  /// from @surrealdb/node-linux-x64-gnu 1.0.0-beta.3: one session per socket emulated by the
  /// front, no live queries; see docs/protocol.md §8). 2 always runs the npm engine.
  int engine = 3;
  /// Root user the server defines; empty = none (the server then runs without authentication).
  /// The password reaches the child through its environment (SURREAL_PASS), never its argv.
  std::string user, pass;
  /// With a root user, unauthenticated sessions are refused (as `surreal start`) unless this is
  /// set (`--allow-guests`). Default off.
  bool allow_guests = false;
  std::string host = "127.0.0.1";
  /// 0 = a free port chosen at start (kept across restart()).
  std::uint16_t port = 0;
  /// Longest wait for the server to answer /health. Default 60 s.
  std::chrono::milliseconds start_timeout{60000};
  /// Use `surreal` from PATH when present (default). Off = always the npm engine.
  bool prefer_surreal_binary = true;
  /// Directory of the local engine (tools/surrealdb-local). "" = $CORTEX_SURREALDB_LOCAL_DIR, else
  /// the installed copy (<prefix>/share/cortex_storage/surrealdb-local), else the source tree.
  std::string server_dir;
  /// Silence the server's own log lines (its stderr, written to log_path()). Default on.
  bool quiet = true;
  /// More arguments for the server (e.g. {"--web-crt", "c.pem", "--web-key", "k.pem"} for TLS).
  std::vector<std::string> extra_args;
  /// Test hook: run this Node script (with `--bind HOST:PORT` and extra_args) instead of the
  /// engine — e.g. a fault-injecting fake server. It must print "listening on HOST:PORT".
  std::string script;
};

class LocalServer {
 public:
  /// Starts the server. Throws cortex::Error(Errc::server_start_failed) saying why (node missing,
  /// `npm ci` not run, port taken, no /health within start_timeout).
  explicit LocalServer(LocalServerOptions options = {});

  /// The engine behind a local endpoint (mem://, mem://NAME, surrealkv://DIR, rocksdb://DIR,
  /// file://DIR), shared within the process: every caller naming the same engine — the same
  /// mem:// name, the same directory (which only one engine may open) — gets the same running
  /// server, started by the first (with its `options`: root user, guests) and stopped when the
  /// last holder lets go. A plain mem:// is always a fresh engine. `options.store` is set from
  /// `endpoint`. Throws like the constructor, or Error(invalid_url) for a remote endpoint.
  static std::shared_ptr<LocalServer> shared(const Endpoint& endpoint, LocalServerOptions options = {});

  ~LocalServer();
  LocalServer(const LocalServer&) = delete;
  LocalServer& operator=(const LocalServer&) = delete;

  /// ws://HOST:PORT/rpc
  std::string url() const;
  std::uint16_t port() const noexcept { return port_; }
  /// Where the server's stderr goes — its log lines and whatever the engine prints when it fails
  /// (a Rust panic among them) — instead of this process's terminal:
  /// `$TMPDIR/cortex-surrealdb-<port>.log` (`/tmp` without TMPDIR), appended to across restart().
  /// Created 0600; removed when the server stops with nothing written, kept otherwise. Before the
  /// port is known (a start that failed early) it is a `cortex-surrealdb-starting-…` file there,
  /// named in the error.
  const std::string& log_path() const noexcept { return log_path_; }
  int pid() const noexcept { return pid_; }
  bool running() const noexcept { return pid_ > 0; }

  /// SIGTERM, then wait for exit (SIGKILL after 5 s). Idempotent.
  void stop();
  /// SIGKILL and reap: a crash, for fault tests.
  void kill();
  /// SIGSTOP / SIGCONT: a server that stops answering without closing its sockets. pause()
  /// returns once the process is stopped.
  void pause();
  void resume();
  /// Starts again on the same port and store (after stop() or kill()).
  void restart();

 private:
  void start();
  LocalServerOptions options_;
  std::uint16_t port_ = 0;
  int pid_ = -1;
  int stdout_fd_ = -1;
  std::string log_path_;
};

}  // namespace cortex::storage
