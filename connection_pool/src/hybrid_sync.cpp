#include "hybrid_sync.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "connection_setup.hpp"
#include "sync_plan.hpp"
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

constexpr int kBatch = 1000;  // entries per SHOW CHANGES read, changes per transaction
// How often a pass runs while the cache is behind (it takes no calls until one completes).
constexpr std::chrono::milliseconds kCatchUpPoll{250};
// A ship's refusal when a remote record changed after it was read ("can be retried": the pass
// runs again at once, see is_retryable_conflict).
// The default sync name before each cache had its own (0.1): a cache holding positions under it keeps it.
constexpr const char* kLegacyName = "cortex-hybrid";
constexpr const char* kChangedMeanwhile = "cortex sync: a remote record changed during the ship; can be retried";

using ShipHook = std::function<void(const std::string&, ShipStage)>;
std::mutex hook_mu;
std::shared_ptr<const ShipHook> ship_hook;  // under hook_mu

std::shared_ptr<const ShipHook> before_ship_hook() {
  std::lock_guard<std::mutex> lock(hook_mu);
  return ship_hook;
}

}  // namespace

void set_before_ship_for_testing(std::function<void(const std::string& remote_url, ShipStage)> h) {
  std::lock_guard<std::mutex> lock(hook_mu);
  ship_hook = h ? std::make_shared<const ShipHook>(std::move(h)) : nullptr;
}

struct HybridSync::Impl {
  explicit Impl(HybridSyncParams p) : params(std::move(p)), own_named(params.name.empty()) {}

  HybridSyncParams params;  // its name: the sync thread's (and the constructor's, before it starts)
  const bool own_named;     // no name configured: the cache's own (own_name)
  storage::IoRunner io{1};
  std::shared_ptr<RpcConnection> local;
  std::vector<std::shared_ptr<RpcConnection>> remotes;
  bool local_ready = false;  // tables defined with a changefeed on the current local connection
  sync::CacheGate gate;
  std::shared_ptr<std::atomic<std::uint64_t>> local_losses = std::make_shared<std::atomic<std::uint64_t>>(0);
  std::atomic<bool> catch_up_wanted{false};
  std::string last_logged;  // the last pass's error (sync thread only)
  std::map<std::string, std::shared_ptr<detail::TokenCache>> tokens;  // by URL: one password signin per server

  mutable std::mutex mu;
  std::condition_variable wake, passed;
  bool stopping = false;
  // Tickets: the pass the thread runs at start serves ticket 1, each sync_now() asks for the next.
  std::uint64_t requested = 1, completed = 0;
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
    // The conflict rule compares versionstamps as times, which 2.x's (counters) are not: a 2.x
    // site's changes would lose to every change of a 3.x one. Not synced, and said why.
    if (c->server_major() < 3) {
      c->close();
      throw Error(make_error_code(Errc::unsupported_by_server),
                  "the server is " + (c->server_version().empty() ? std::string("of unknown version") : c->server_version()) +
                      "; Hybrid sync needs SurrealDB 3.x (2.x versionstamps are counters, not times)");
    }
    auto [ec, why] = storage::block_on<std::error_code, const std::string&>([&](auto done) {
      auto& cache = tokens[url];
      if (!cache) cache = std::make_shared<detail::TokenCache>();
      auto plan = detail::setup_plan(params.session, cache);
      plan.metrics = params.metrics.get();
      detail::run_setup(c, std::move(plan), std::move(done));
    });
    if (ec) throw Error(ec, why);
    return c;
  }

  // The synced tables and the position records get a changefeed before anything writes to them
  // (a table a write creates first has none, and its changes could not be read back).
  void define_tables(RpcConnection& c) {
    // Identifiers from the validated configuration: nothing a caller typed at run time is pasted.
    std::string sql = "DEFINE TABLE IF NOT EXISTS _cortex_sync SCHEMALESS CHANGEFEED 1d;";
    for (const auto& t : params.tables) sql += "\nDEFINE TABLE IF NOT EXISTS `" + t + "` SCHEMALESS CHANGEFEED 1d;";
    c.query(sql).throw_if_error();
  }

  void ensure_remote(std::size_t i) {
    auto& c = remotes[i];
    if (c && c->is_open()) return;
    c = open(params.remote_urls[i]);
    define_tables(*c);
  }

  void prepare_local() {
    if (!local || !local->is_open()) {
      local = open(params.local_url);
      local_ready = false;
      // This connection is always open: its loss tells the gate that the cache went away even
      // when the manager had no connection to it (a counter shared with the callback, which may
      // run after this object is gone).
      local->on_closed([lost = local_losses](const std::string&) { lost->fetch_add(1); });
    }
    if (local_ready) return;
    define_tables(*local);
    if (own_named) params.name = own_name(*local);  // again after a reconnect: the cache may be a new one
    local_ready = true;
  }

  // The cache's own stream name: made once, kept in the cache. Two caches on one remote must not
  // share a name (each would take the other's shipments for its own echoes and drop them); a
  // restarted cache with its data keeps its name and so its positions. A cache that lost its data
  // gets a new name, and is seeded from the remotes as any new cache.
  static std::string own_name(RpcConnection& c) {
    const Value self_id(storage::RecordId{"_cortex_sync", storage::Box<Value>(Value("self"))});
    const auto read = [&] { return c.query("SELECT VALUE name FROM ONLY $id", {{"id", self_id}}).at(0); };
    auto name = read();
    if (!name.is<std::string>()) {
      // A cache synced before names were the cache's own kept its positions under the old default:
      // it keeps that name (a new one would start from no position, and re-ship a day of changes).
      const auto ids = c.query("SELECT VALUE id FROM _cortex_sync").at(0);
      bool legacy = false;
      if (ids.is<storage::Array>()) {
        for (const auto& id : ids.get<storage::Array>()) {
          if (id.is<storage::RecordId>() && (*id.get<storage::RecordId>().key)[std::size_t{0}] == Value(kLegacyName)) legacy = true;
        }
      }
      // Two managers on one new cache may race here: the loser's CREATE fails, and both read the winner's.
      if (legacy) c.query("CREATE $id SET name = $name", {{"id", self_id}, {"name", Value(kLegacyName)}});
      else c.query("CREATE $id SET name = 'cache-' + <string> rand::uuid::v7()", {{"id", self_id}});
      name = read();
    }
    if (!name.is<std::string>()) throw Error(make_error_code(Errc::protocol_error), "the cache holds no sync name in _cortex_sync:self");
    return name.get<std::string>();
  }

  static std::optional<std::int64_t> position(RpcConnection& c, const Value& id) {
    const auto v = c.query("SELECT VALUE vs FROM ONLY $id", {{"id", id}}).at(0);
    if (!v.is<std::int64_t>()) return std::nullopt;
    return v.get<std::int64_t>();
  }

  // A server's feed from `since` to its end, in batches. SHOW CHANGES accepts neither parameters
  // nor expressions: `since` is an integer this code computed.
  sync::Feed read_feed(RpcConnection& c, std::int64_t since) {
    sync::Feed feed;
    feed.end = since;
    for (;;) {
      auto more = sync::parse_feed(
          c.query("SHOW CHANGES FOR DATABASE SINCE " + std::to_string(feed.end) + " LIMIT " + std::to_string(kBatch)).at(0),
          params.name, params.tables, feed.end);
      const bool full = more.read >= static_cast<std::size_t>(kBatch);
      sync::append(feed, std::move(more));
      if (!full) return feed;
    }
  }

  // A remote this cache has never copied from: its tables as they are now (one entry at
  // versionstamp 0, so that any change of the cache not yet shipped wins), and its feed from the
  // remote's clock before the read (versionstamps are times: what changes during the read is read
  // again from the feed).
  sync::Feed snapshot(RpcConnection& remote) {
    sync::Feed feed;
    const auto ms = remote.query("RETURN time::millis(time::now())").at(0);
    feed.end = ms.is<std::int64_t>() ? ms.get<std::int64_t>() << 16 : 0;
    feed.read = 1;
    sync::FeedEntry e;
    for (const auto& t : params.tables) {
      const auto rows = remote.query("SELECT * FROM `" + t + "`").at(0);
      if (!rows.is<storage::Array>()) continue;
      for (const auto& row : rows.get<storage::Array>()) e.changes.push_back(sync::Change{row["id"], row, 0});
    }
    feed.entries.push_back(std::move(e));
    return feed;
  }

  // Applies a plan to `target`, each chunk in one transaction with the position it reaches and the
  // original versionstamps of its changes, which the conflict rule reads wherever the feed is read
  // again (a copy into the cache, or a shipment read by another cache, is not newer than its write).
  // `expected` (ships): each record as the remote held it when the ship was planned; a record
  // that differs now was written meanwhile, and the chunk is refused whole (the pass runs again and
  // the conflict rule sees that write) instead of overwriting a newer version.
  using Held = std::unordered_map<std::string, Value>;
  std::uint64_t apply(RpcConnection& target, const sync::Plan& plan, const Value& position_id,
                      const Held* expected = nullptr) {
    std::uint64_t applied = 0;
    for (const auto& chunk : plan.chunks) {
      std::string sql = "BEGIN;\n";
      storage::Object vars{{"pos", position_id}, {"next", Value(chunk.next)}};
      storage::Array stamps;
      for (std::size_t i = 0; i < chunk.changes.size(); ++i) {
        const auto& ch = chunk.changes[i];
        const std::string r = "r" + std::to_string(i), c = "c" + std::to_string(i);
        vars[r] = ch.id;
        if (expected) {
          const std::string e = "e" + std::to_string(i);
          const auto it = expected->find(sync::record_key(ch.id));
          vars[e] = it == expected->end() ? Value::none() : it->second;
          sql += "IF (SELECT * FROM ONLY $" + r + ") != $" + e + " { THROW '" + kChangedMeanwhile + "' };\n";
        }
        if (ch.deleted()) {
          sql += "DELETE $" + r + ";\n";
        } else {
          vars[c] = ch.content;
          sql += "UPSERT $" + r + " CONTENT $" + c + ";\n";
        }
        stamps.push_back(Value(storage::Array{ch.id, Value(ch.vs)}));
      }
      vars["stamps"] = Value(std::move(stamps));
      sql += "UPSERT $pos SET vs = $next, stamps = $stamps;\nCOMMIT;";
      const auto result = target.query(sql, std::move(vars));
      // A failed transaction reports its other statements as "not executed": the refusal may be
      // any statement's error, and says the pass may run again at once.
      for (const auto& st : result.statements) {
        if (!st.ok && st.error.find(kChangedMeanwhile) != std::string::npos) throw Error(make_error_code(Errc::statement_failed), kChangedMeanwhile);
      }
      result.throw_if_error();
      applied += chunk.changes.size();
    }
    return applied;
  }

  // Copies remote i's new changes into the cache (the conflict rule against the cache's changes
  // not yet shipped to it).
  std::uint64_t pull(std::size_t i) {
    auto& remote = *remotes[i];
    const auto& url = params.remote_urls[i];
    const Value pos_id = sync::pull_position_id(params.name, url);
    const auto since = position(*local, pos_id);
    const auto unshipped = read_feed(*local, position(remote, sync::ship_position_id(params.name)).value_or(0));
    const auto feed = since ? read_feed(remote, *since) : snapshot(remote);
    return apply(*local, sync::plan_pull(feed, unshipped, url, kBatch), pos_id);
  }

  // Ships the cache's changes to remote i (after the pulls: records the remote itself changed
  // later are copies from it by now, and are left out).
  //
  // A remote write may land after this pass's pull: the ship reads what the remote holds of the
  // records it will write, then the remote's feed since the pull (a newer write there wins and is
  // left out of the ship; the next pull copies it), and writes each record only if the remote
  // still holds what was read (else the chunk is refused and the pass runs again).
  std::uint64_t ship(std::size_t i) {
    auto& remote = *remotes[i];
    const auto& url = params.remote_urls[i];
    const Value pos_id = sync::ship_position_id(params.name);
    const auto pending = read_feed(*local, position(remote, pos_id).value_or(0));
    auto plan = sync::plan_ship(pending, url, kBatch);
    if (plan.chunks.empty()) return 0;
    const auto hook = before_ship_hook();
    if (hook) (*hook)(url, ShipStage::planned);
    const Held held = holding(remote, plan);
    if (const auto since = position(*local, sync::pull_position_id(params.name, url))) {
      sync::drop_overtaken(plan, read_feed(remote, *since));
    }
    if (hook) (*hook)(url, ShipStage::checked);
    return apply(remote, plan, pos_id, &held);
  }

  // What `remote` holds now of the records `plan` writes (absent: not in the map).
  static Held holding(RpcConnection& remote, const sync::Plan& plan) {
    Held held;
    for (const auto& chunk : plan.chunks) {
      storage::Array ids;
      for (const auto& ch : chunk.changes) ids.push_back(ch.id);
      if (ids.empty()) continue;
      const auto rows = remote.query("SELECT * FROM $ids", {{"ids", Value(std::move(ids))}}).at(0);
      if (!rows.is<storage::Array>()) continue;
      for (const auto& row : rows.get<storage::Array>()) held[sync::record_key(row["id"])] = row;
    }
    return held;
  }

  std::uint64_t cache_failures() const {
    return (params.cache_failures ? params.cache_failures() : 0) + local_losses->load();
  }

  // One pass; a pass that meets a transaction conflict (the server says it can be retried: e.g.
  // the manager's connections defining the same new namespace at once) runs again, a few times.
  void pass() {
    for (int attempt = 0;; ++attempt) {
      catch_up_wanted.store(false);
      Counts counts;
      std::string error = pass_once(counts);
      if (counts.shipped) params.metrics->sync_shipped_changes.fetch_add(counts.shipped);
      if (counts.pulled) params.metrics->sync_pulled_changes.fetch_add(counts.pulled);
      const bool again = !error.empty() && attempt < 5 && is_retryable_conflict(error);
      // Said once per kind of trouble: while the cache is down a pass fails every kCatchUpPoll.
      if (!again && !error.empty() && error != last_logged) log(LogLevel::warning, error);
      if (!again) last_logged = error;
      std::lock_guard<std::mutex> lock(mu);
      status.shipped += counts.shipped;
      status.pulled += counts.pulled;
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

  struct Counts {
    std::uint64_t shipped = 0, pulled = 0;
  };

  std::string pass_once(Counts& counts) {
    std::string error;
    const std::uint64_t failures_at_start = cache_failures();
    try {
      prepare_local();
      remotes.resize(params.remote_urls.size());
      std::vector<bool> reached(remotes.size(), false);
      // Every remote's changes in first, so that the ships see what each remote changed itself.
      // A remote that cannot be read is skipped: its changes come in a later pass.
      for (std::size_t i = 0; i < remotes.size(); ++i) {
        try {
          ensure_remote(i);
          counts.pulled += pull(i);
          reached[i] = true;
        } catch (const Error& e) {
          error = "sync with " + params.remote_urls[i] + ": " + e.what();  // the others still get theirs
        }
      }
      if (!local->is_open()) throw Error(make_error_code(Errc::connection_lost), "the local cache went away");
      gate.caught_up(failures_at_start);
      for (std::size_t i = 0; i < remotes.size(); ++i) {
        if (!reached[i]) continue;
        try {
          counts.shipped += ship(i);
        } catch (const Error& e) {
          error = "sync to " + params.remote_urls[i] + ": " + e.what();
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
      // Sleeps until the next pass is due, a sync_now() asks for one, the router finds the cache
      // behind, or stop(). While the cache is behind, passes come every kCatchUpPoll.
      const auto wait = cache_serving() ? params.interval : std::min<std::chrono::milliseconds>(params.interval, kCatchUpPoll);
      wake.wait_for(lock, wait, [&] { return stopping || requested != completed || catch_up_wanted.load(); });
    }
  }

  bool cache_serving() const { return gate.serving(cache_failures()); }
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

bool HybridSync::wait_first_pass(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(impl_->mu);
  impl_->passed.wait_for(lock, timeout, [&] { return impl_->completed >= 1 || impl_->stopping; });
  return impl_->completed >= 1 && impl_->last_ok;
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

bool HybridSync::cache_serving() const { return impl_->cache_serving(); }

void HybridSync::want_catch_up() {
  if (impl_->catch_up_wanted.exchange(true)) return;  // already asked
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->wake.notify_all();
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
