#include "hybrid_sync.hpp"

#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "connection_setup.hpp"
#include "cortex/storage/block_on.hpp"
#include "cortex/storage/error.hpp"
#include "cortex/storage/io_runner.hpp"
#include "cortex/storage/log.hpp"
#include "cortex/storage/rpc_connection.hpp"

namespace cortex::pool {

using storage::RpcConnection;
using storage::Value;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kBatch = 1000;  // SHOW CHANGES' cap on entries per read

// The position record on a remote: `_cortex_sync:[name, table]`.
Value position_id(const std::string& name, const std::string& table) {
  return Value(storage::RecordId{"_cortex_sync", storage::Box<Value>(Value(storage::Array{Value(name), Value(table)}))});
}

std::int64_t as_int(const Value& v) { return v.is<std::int64_t>() ? v.get<std::int64_t>() : 0; }

}  // namespace

struct HybridSync::Impl {
  explicit Impl(HybridSyncParams p) : params(std::move(p)) {}

  HybridSyncParams params;
  storage::IoRunner io{1};
  std::shared_ptr<RpcConnection> local;
  std::vector<std::shared_ptr<RpcConnection>> remotes;
  bool local_ready = false;  // tables defined with a changefeed on the current local connection
  std::map<std::string, detail::TokenCache> tokens;  // by URL: one password signin per server

  mutable std::mutex mu;
  std::condition_variable wake, passed;
  bool stopping = false;
  std::uint64_t requested = 0, completed = 0;  // sync_now requests and passes finished since
  bool last_ok = false;
  Status status;
  std::optional<Clock::time_point> last_success;
  std::thread thread;

  // Every connection this sync opened: stop() aborts them, so that a call blocked on a silent
  // remote fails at once instead of holding stop() (and the manager's shutdown) for its deadline.
  std::vector<std::weak_ptr<RpcConnection>> live;  // under mu

  // connect, unless stop() comes first (a connect to a black hole would hold it for its timeout).
  // The outcome has its own lock: the connect's handler may run after this object is gone.
  struct PendingConnect {
    std::mutex mu;
    std::condition_variable cv;
    std::error_code ec;
    std::shared_ptr<RpcConnection> conn;
    bool done = false, stopped = false;
  };
  std::shared_ptr<PendingConnect> connecting;  // under mu: the one stop() interrupts

  std::shared_ptr<RpcConnection> connect_unless_stopped(const std::string& url) {
    auto out = std::make_shared<PendingConnect>();
    {
      std::lock_guard<std::mutex> lock(mu);
      if (stopping) throw Error(make_error_code(Errc::pool_closed), "hybrid sync stopped");
      connecting = out;
    }
    RpcConnection::async_connect(io.context(), url, {}, [out](std::error_code ec, std::shared_ptr<RpcConnection> c) {
      std::lock_guard<std::mutex> lock(out->mu);
      out->ec = ec;
      out->conn = std::move(c);
      out->done = true;
      out->cv.notify_all();
    });
    std::unique_lock<std::mutex> wait(out->mu);
    out->cv.wait(wait, [&] { return out->done || out->stopped; });
    bool stopped = out->stopped;
    auto conn = out->conn;
    const auto ec = out->ec;
    wait.unlock();
    {
      std::lock_guard<std::mutex> lock(mu);
      connecting.reset();
      stopped = stopped || stopping;
      if (!stopped && conn) live.push_back(conn);
    }
    if (stopped) {
      if (conn) conn->abort();
      throw Error(make_error_code(Errc::pool_closed), "hybrid sync stopped");
    }
    if (ec) throw Error(ec, "connect to " + url + " failed: " + ec.message());
    return conn;
  }

  std::shared_ptr<RpcConnection> open(const std::string& url) {
    auto c = connect_unless_stopped(url);
    auto [ec, why] = storage::block_on<std::error_code, const std::string&>([&](auto done) {
      auto plan = detail::setup_plan(params.session, tokens[url].get());
      plan.metrics = params.metrics.get();
      detail::run_setup(c, std::move(plan), std::move(done));
    });
    if (ec) throw Error(ec, why);
    tokens[url].learn(*c);
    return c;
  }

  void ensure_remote(std::size_t i) {
    auto& c = remotes[i];
    if (c && c->is_open()) return;
    c = open(params.remote_urls[i]);
    c->query("DEFINE TABLE IF NOT EXISTS _cortex_sync SCHEMALESS").throw_if_error();
  }

  // Ships one table's pending changes to one remote, in batches, each applied with its new position
  // in one transaction. Returns the changes shipped.
  std::uint64_t ship(RpcConnection& remote, const std::string& table) {
    const Value pos_id = position_id(params.name, table);
    std::int64_t since = as_int(remote.query("SELECT VALUE vs FROM ONLY $id", {{"id", pos_id}}).at(0));
    std::uint64_t shipped = 0;
    for (;;) {
      // SHOW CHANGES accepts neither parameters nor expressions: the table is a validated identifier
      // from the configuration and `since` an integer this code computed — no user value is pasted.
      const auto feed = local->query("SHOW CHANGES FOR TABLE `" + table + "` SINCE " + std::to_string(since) +
                                     " LIMIT " + std::to_string(kBatch)).at(0);
      if (!feed.is<storage::Array>() || feed.get<storage::Array>().empty()) return shipped;
      std::string sql = "BEGIN;\n";
      storage::Object vars{{"pos", pos_id}};
      std::size_t n = 0;
      std::int64_t last = since;
      for (const auto& entry : feed.get<storage::Array>()) {
        last = as_int(entry["versionstamp"]);
        const auto& changes = entry["changes"];
        if (!changes.is<storage::Array>()) continue;
        for (const auto& ch : changes.get<storage::Array>()) {
          const std::string r = "r" + std::to_string(n), c = "c" + std::to_string(n);
          if (ch["update"].is<storage::Object>()) {
            vars[r] = ch["update"]["id"];
            vars[c] = ch["update"];
            sql += "UPSERT $" + r + " CONTENT $" + c + ";\n";
          } else if (ch["delete"].is<storage::Object>()) {
            vars[r] = ch["delete"]["id"];
            sql += "DELETE $" + r + ";\n";
          } else {
            continue;  // define_table and the like: schema, not data
          }
          ++n;
        }
      }
      vars["next"] = Value(last + 1);
      sql += "UPSERT $pos SET vs = $next;\nCOMMIT;";
      remote.query(sql, std::move(vars)).throw_if_error();
      shipped += n;
      since = last + 1;
      if (feed.get<storage::Array>().size() < static_cast<std::size_t>(kBatch)) return shipped;
    }
  }

  // The tables get their changefeed before anything writes to them (a table a write creates first
  // has none, and its changes could not be shipped).
  void prepare_local() {
    if (!local || !local->is_open()) {
      local = open(params.local_url);
      local_ready = false;
    }
    if (local_ready) return;
    for (const auto& t : params.tables) {
      local->query("DEFINE TABLE IF NOT EXISTS `" + t + "` SCHEMALESS CHANGEFEED 1d").throw_if_error();
    }
    local_ready = true;
  }

  // One pass; a pass that meets a transaction conflict (the server says it can be retried: e.g.
  // the manager's connections defining the same new namespace at once) runs again, a few times.
  void pass() {
    for (int attempt = 0;; ++attempt) {
      std::uint64_t shipped = 0;
      std::string error = pass_once(shipped);
      if (shipped) params.metrics->sync_shipped_changes.fetch_add(shipped);
      const bool again = !error.empty() && attempt < 5 && is_retryable_conflict(error);
      if (!again && !error.empty()) log(LogLevel::warning, error);
      std::lock_guard<std::mutex> lock(mu);
      status.shipped += shipped;
      if (again) continue;
      status.last_error = error;
      last_ok = error.empty();
      if (last_ok) {
        ++status.passes;
        last_success = Clock::now();
        params.metrics->sync_completed();
      }
      return;
    }
  }

  std::string pass_once(std::uint64_t& shipped) {
    std::string error;
    try {
      prepare_local();
      remotes.resize(params.remote_urls.size());
      for (std::size_t i = 0; i < remotes.size(); ++i) {
        try {
          ensure_remote(i);
          for (const auto& t : params.tables) shipped += ship(*remotes[i], t);
        } catch (const Error& e) {
          error = "sync to " + params.remote_urls[i] + ": " + e.what();  // the others still get theirs
        }
      }
    } catch (const Error& e) {
      error = "sync from " + params.local_url + ": " + e.what();
      local_ready = false;
    }
    return error;
  }

  void run() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stopping) {
      const std::uint64_t serving = requested;
      lock.unlock();
      pass();
      lock.lock();
      completed = serving;
      passed.notify_all();
      // Sleeps until the next pass is due, a sync_now() asks for one, or stop().
      wake.wait_for(lock, params.interval, [&] { return stopping || requested != completed; });
    }
  }
};

HybridSync::HybridSync(HybridSyncParams params) : impl_(std::make_unique<Impl>(std::move(params))) {
  if (!impl_->params.metrics) impl_->params.metrics = std::make_shared<metrics::PoolMetrics>();
  for (int attempt = 0; attempt < 5; ++attempt) {
    try {
      impl_->prepare_local();
      break;
    } catch (const Error& e) {  // the local cache down at start: the first pass tries again
      if (!is_retryable_conflict(e.what())) {
        log(LogLevel::warning, std::string("hybrid sync: preparing the local cache failed: ") + e.what());
        break;
      }
    }
  }
  impl_->thread = std::thread([impl = impl_.get()] { impl->run(); });
}

HybridSync::~HybridSync() { stop(); }

bool HybridSync::sync_now(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  if (impl_->stopping) return false;
  const std::uint64_t ticket = ++impl_->requested;
  impl_->wake.notify_all();
  // A pass that starts after this request serves it (it reads `requested` when it starts).
  if (!impl_->passed.wait_for(lock, timeout, [&] { return impl_->completed >= ticket || impl_->stopping; })) return false;
  return impl_->completed >= ticket && impl_->last_ok;
}

void HybridSync::stop() {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    if (impl_->stopping && !impl_->thread.joinable()) return;
    impl_->stopping = true;
  }
  impl_->wake.notify_all();
  impl_->passed.notify_all();
  std::vector<std::weak_ptr<RpcConnection>> live;
  std::shared_ptr<Impl::PendingConnect> connecting;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    live.swap(impl_->live);
    connecting = impl_->connecting;
  }
  if (connecting) {
    std::lock_guard<std::mutex> lock(connecting->mu);
    connecting->stopped = true;
    connecting->cv.notify_all();
  }
  for (auto& w : live) {
    if (auto c = w.lock()) c->abort();  // a pass blocked on one fails now
  }
  if (impl_->thread.joinable()) impl_->thread.join();
  for (auto& r : impl_->remotes) {
    if (r) r->close();
  }
  if (impl_->local) impl_->local->close();
}

HybridSync::Status HybridSync::status() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  Status s = impl_->status;
  if (impl_->last_success) {
    s.lag = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - *impl_->last_success);
  }
  return s;
}

}  // namespace cortex::pool
