#include "agent_work.hpp"

#include <cstdio>

using namespace cortex::sessions;
using namespace cortex::storage;
using Clock = std::chrono::steady_clock;

Demo::Demo(cortex::pool::ConnectionManager& m, int agents) : agents_(static_cast<std::size_t>(agents)) {
  for (int i = 0; i < agents; ++i) {
    auto& a = agents_[static_cast<std::size_t>(i)];
    a.name = "agent_" + std::to_string(i);
    a.session = AgentSession::create(a.name, m, "demo_" + a.name);  // its own namespace
    a.session->query("DEFINE TABLE IF NOT EXISTS memory SCHEMALESS; DEFINE TABLE IF NOT EXISTS ledger SCHEMALESS;"
                     "DEFINE TABLE IF NOT EXISTS related TYPE RELATION;")
        .throw_if_error();
  }
  // The first agent watches its own memories arrive (where the server delivers live queries: the
  // embedded 2.1.1 engine does not, and says so).
  try {
    agents_[0].session->live("memory", [this](const Notification& n) {
      if (n.action == "CREATE") ++notified_;
    });
  } catch (const cortex::Error& e) {
    live_refused_ = e.what();
  }
}

Demo::~Demo() {
  for (auto& t : threads_) t.join();
}

void Demo::start(std::chrono::duration<double> duration) {
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(duration);
  running_ = static_cast<int>(agents_.size());
  for (auto& a : agents_) threads_.emplace_back([this, &a, until] { run(a, until); });
}

bool Demo::wait_done(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return finished_.wait_for(lock, timeout, [&] { return running_.load() == 0; });
}

void Demo::op(Agent&, const std::function<void()>& f) {
  const auto t = Clock::now();
  f();
  latency_.record(Clock::now() - t);
  ++ops_;
}

void Demo::run(Agent& a, Clock::time_point until) {
  auto& s = *a.session;
  Value previous;
  try {
    for (std::uint64_t i = 0; Clock::now() < until && !stop_; ++i) {
      // Store a memory (values as query variables, never pasted into SurrealQL) and log the write.
      Value id;
      op(a, [&] {
        id = s.query("CREATE ONLY memory CONTENT { agent: $agent, text: $text, importance: $imp, at: time::now() } RETURN VALUE id",
                     {{"agent", Value(a.name)}, {"text", Value(a.name + " remembers #" + std::to_string(i))},
                      {"imp", Value(static_cast<double>(i % 10) / 10.0)}})
                 .at(0);
      });
      ++a.memories;
      if (i % 3 == 0) op(a, [&] { s.query("SELECT text, importance FROM memory ORDER BY importance DESC LIMIT 3").throw_if_error(); });
      if (i % 5 == 0 && !previous.is_none()) {
        op(a, [&] { s.query("RELATE $a->related->$b", {{"a", previous}, {"b", id}}).throw_if_error(); });
        ++a.relations;
      }
      if (i % 10 == 0) {
        op(a, [&] {
          const auto txid = s.record_transaction({TransactionOperation::Write{"ledger", std::to_string(i)}});
          if (s.server_side()) {  // 3.x: an interactive transaction of the agent's session
            s.transaction([&](TransactionScope& t) {
              t.query("CREATE ledger SET kind = 'debit', amount = 10").throw_if_error();
              t.query("CREATE ledger SET kind = 'credit', amount = 10").throw_if_error();
            });
          } else {  // 2.x has no RPC transactions: one query holding the whole transaction
            s.query("BEGIN; CREATE ledger SET kind = 'debit', amount = 10; CREATE ledger SET kind = 'credit', amount = 10; COMMIT;")
                .throw_if_error();
          }
          s.commit_transaction(txid);
        });
        ++a.transactions;
      }
      previous = id;
    }
  } catch (const cortex::Error& e) {
    a.error = e.what();
    ++failed_;
  }
  std::lock_guard<std::mutex> lock(mu_);
  --running_;
  finished_.notify_all();
}

void Demo::print_table() {
  std::printf("%-10s %10s %9s %9s %10s %10s %10s  %s\n", "agent", "memories", "related", "txns", "ops", "p50 ms", "p99 ms", "error");
  for (auto& a : agents_) {
    const auto m = a.session->metrics();
    std::printf("%-10s %10llu %9llu %9llu %10llu %10.2f %10.2f  %s\n", a.name.c_str(),
                static_cast<unsigned long long>(a.memories), static_cast<unsigned long long>(a.relations),
                static_cast<unsigned long long>(a.transactions), static_cast<unsigned long long>(m.operations),
                m.latency.p50.count() / 1e6, m.latency.p99.count() / 1e6, a.error.c_str());
  }
  if (live_refused_.empty()) {
    std::printf("live query of %s saw %d CREATE notifications\n", agents_[0].name.c_str(), notified_.load());
  } else {
    std::printf("live query of %s refused: %s\n", agents_[0].name.c_str(), live_refused_.c_str());
  }
  const auto h = agents_[0].session->transaction_history();
  std::printf("%s's transaction log: %zu entries, persisted in its namespace\n", agents_[0].name.c_str(), h.size());
}

nlohmann::json Demo::report() const {
  nlohmann::json agents = nlohmann::json::array();
  std::uint64_t memories = 0, relations = 0, transactions = 0, operations = 0, errors = 0;
  for (const auto& a : agents_) {
    const auto m = a.session->metrics();
    agents.push_back({{"agent", a.name},
                      {"memories", a.memories},
                      {"relations", a.relations},
                      {"transactions", a.transactions},
                      {"operations", m.operations},
                      {"errors", m.errors},
                      {"p50_ms", m.latency.p50.count() / 1e6},
                      {"p99_ms", m.latency.p99.count() / 1e6},
                      {"error", a.error}});
    memories += a.memories;
    relations += a.relations;
    transactions += a.transactions;
    operations += m.operations;
    errors += m.errors;
  }
  const auto lat = latency_.summary();
  return {{"agents", agents},
          {"totals",
           {{"agents", agents_.size()},
            {"failed_agents", failed_.load()},
            {"memories", memories},
            {"relations", relations},
            {"transactions", transactions},
            {"operations", operations},
            {"errors", errors},
            {"p50_ms", lat.p50.count() / 1e6},
            {"p99_ms", lat.p99.count() / 1e6},
            {"live_notifications", notified_.load()}}}};
}
