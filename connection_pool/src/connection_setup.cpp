#include "connection_setup.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include <string_view>

#include "cortex/storage/error.hpp"

namespace cortex::pool::detail {

using storage::RpcConnection;

SetupPlan setup_plan(const SessionDefaults& defaults, const std::string& token, const std::string& schema,
                     bool reset_first) {
  SetupPlan plan;
  if (reset_first) plan.steps.push_back(storage::rpc::reset());
  if (defaults.credentials) {
    if (token.empty()) {
      plan.steps.push_back(storage::rpc::signin(*defaults.credentials));
    } else {
      plan.steps.push_back(storage::rpc::authenticate(token));
      plan.signin_fallback = storage::rpc::signin(*defaults.credentials);
    }
  }
  if (defaults.ns || defaults.db) plan.steps.push_back(storage::rpc::use(defaults.ns, defaults.db));
  if (!schema.empty()) plan.steps.push_back(storage::rpc::query(schema));
  return plan;
}

SetupPlan setup_plan(const SessionDefaults& defaults, std::shared_ptr<TokenCache> tokens, const std::string& schema,
                     bool reset_first) {
  std::uint64_t turn = 0;
  SetupPlan plan = setup_plan(defaults, tokens->get(&turn), schema, reset_first);
  plan.tokens = std::move(tokens);
  plan.tokens_turn = turn;
  return plan;
}

namespace {

struct Run {
  std::weak_ptr<RpcConnection> conn;
  SetupPlan plan;
  StepsDone done;
  std::shared_ptr<SigninTurn> turn;  // this setup's password signin is the one in flight
};

bool is_server_error(std::error_code ec) { return ec.category() == cortex::server_category(); }

void step(std::shared_ptr<Run> run, std::size_t i, int conflicts) {
  if (i == run->plan.steps.size()) return run->done({}, "");
  auto conn = run->conn.lock();
  if (!conn) return run->done(make_error_code(Errc::connection_lost), "connection gone during setup");
  const std::string method = run->plan.steps[i].method;
  if (auto* m = run->plan.metrics) {
    m->setup_requests.fetch_add(1);
    if (method == "signin") m->password_signins.fetch_add(1);
  }
  conn->async_call(run->plan.steps[i], run->plan.options, [run, i, method, conflicts](std::error_code ec, storage::Value v) {
    // Sessions that `use` the same new namespace at once can conflict; the server says to retry.
    const auto& msg = v["message"];
    if (ec && conflicts < 5 && msg.is<std::string>() && is_retryable_conflict(msg.get<std::string>())) {
      return step(run, i, conflicts + 1);
    }
    // The server refused the token (expired, revoked, another server's): sign in with the password.
    if (ec && method == "authenticate" && is_server_error(ec) && run->plan.signin_fallback) {
      run->plan.steps[i] = std::move(*run->plan.signin_fallback);
      run->plan.signin_fallback.reset();
      return step(run, i, conflicts);
    }
    // The setups waiting for this signin need its token, not the rest of this setup.
    const bool waited_for = run->turn && method == "signin";
    if (!ec && (run->plan.token_out || waited_for)) {
      if (auto token = storage::rpc::token_after(run->plan.steps[i], v)) {
        if (waited_for) run->turn->succeeded(*token);
        if (run->plan.token_out) *run->plan.token_out = std::move(*token);
      }
    }
    if (!ec && method == "query") {
      for (const auto& s : storage::QueryResult::parse(v).statements) {
        if (!s.ok) return run->done(make_error_code(Errc::statement_failed), "schema statement failed: " + s.error);
      }
    }
    // Never echo a signin's parameters: the server's message alone.
    if (ec) return run->done(ec, method + " during connection setup failed: " + ec.message());
    step(run, i + 1, 0);
  });
}

}  // namespace

void run_setup(std::weak_ptr<RpcConnection> conn, SetupPlan plan, StepsDone done) {
  plan.options.counted = false;  // set-up has its own counter (setup_requests), not request metrics
  auto run = std::make_shared<Run>(Run{std::move(conn), std::move(plan), std::move(done), nullptr});
  auto tokens = run->plan.tokens;
  if (!tokens) return step(std::move(run), 0, 0);
  auto& steps = run->plan.steps;
  const auto signin = std::find_if(steps.begin(), steps.end(), [](const storage::Request& r) { return r.method == "signin"; });
  const bool signs_in = signin != steps.end();
  const auto at = static_cast<std::size_t>(signin - steps.begin());
  tokens->before_setup(signs_in, [run, at](const std::string& token, std::shared_ptr<SigninTurn> turn) {
    if (!token.empty()) {  // another setup's signin got one meanwhile: authenticate with it
      run->plan.signin_fallback = std::move(run->plan.steps[at]);
      run->plan.steps[at] = storage::rpc::authenticate(token);
    }
    run->turn = turn;
    run->done = [tokens = run->plan.tokens, since = run->plan.tokens_turn, turn = std::move(turn), conn = run->conn,
                 done = std::move(run->done)](std::error_code ec, const std::string& why) {
      auto c = conn.lock();
      if (!ec && c) {
        // The signer ends its own turn (a no-op when its signin step already did); any other
        // setup only offers its token, dated by the turn its plan was made in.
        if (turn) turn->succeeded(c->auth_token());
        else tokens->learn(*c, since);
      } else if (turn) {
        turn->failed();
      }
      done(ec, why);
    };
    step(run, 0, 0);
  });
}

namespace {
std::string base64url_decode(std::string_view in) {
  std::string out;
  std::uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-' || c == '+') v = 62;
    else if (c == '_' || c == '/') v = 63;
    else if (c == '=') break;
    else return {};
    buf = (buf << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  return out;
}
}  // namespace

std::function<void(std::chrono::nanoseconds, std::error_code)> count_requests(
    std::shared_ptr<metrics::PoolMetrics> metrics, std::function<void(std::chrono::nanoseconds, std::error_code)> next) {
  return [m = std::move(metrics), next = std::move(next)](std::chrono::nanoseconds took, std::error_code ec) {
    m->request_time.record(took);
    (ec ? m->errors : m->successes).fetch_add(1);
    if (next) next(took, ec);
  };
}

std::optional<std::chrono::steady_clock::time_point> renew_by(const std::string& token) {
  const auto a = token.find('.');
  const auto b = a == std::string::npos ? a : token.find('.', a + 1);
  if (b == std::string::npos) return std::nullopt;
  const auto claims = nlohmann::json::parse(base64url_decode(std::string_view(token).substr(a + 1, b - a - 1)), nullptr, false);
  if (!claims.is_object() || !claims.contains("exp") || !claims["exp"].is_number()) return std::nullopt;
  const double exp = claims["exp"].get<double>();
  const double iat = claims.contains("iat") && claims["iat"].is_number() ? claims["iat"].get<double>() : exp;
  const double now_s = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double renew_in_s = (exp - now_s) - (exp - iat) / 4;  // a quarter of the lifetime to spare
  return std::chrono::steady_clock::now() +
         std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(renew_in_s));
}

std::string TokenCache::get(std::uint64_t* turn) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (turn) *turn = turn_;
  return usable_locked();
}

std::string TokenCache::usable_locked() const {
  if (renew_by_ && std::chrono::steady_clock::now() >= *renew_by_) return {};  // due: sign in afresh
  return token_;
}

void TokenCache::learn(const RpcConnection& conn, std::uint64_t turn) { learn_token(conn.auth_token(), turn); }

void TokenCache::learn_token(std::string t, std::uint64_t turn) {
  if (t.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (turn < token_turn_) return;  // a signin begun after this setup's plan brought the token held
  renew_by_ = renew_by(t);
  token_ = std::move(t);
  token_turn_ = turn;
}

void TokenCache::before_setup(bool signs_in, Then then) {
  std::string token;
  std::shared_ptr<SigninTurn> turn;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (signs_in) {
      token = usable_locked();
      if (token.empty() && signing_in_) return waiting_.push_back(std::move(then));
      if (token.empty()) {
        signing_in_ = true;
        turn = std::make_shared<SigninTurn>(shared_from_this(), ++turn_);
      }
    }
  }
  then(token, std::move(turn));
}

// Ends signin `turn` while it is the one in flight (a late end of an older signin leaves a newer
// one alone): its waiters go on with `token` ("" = each signs in itself), or are dropped uncalled
// (the signer was abandoned, see SigninTurn).
void TokenCache::end_signin(std::uint64_t turn, const std::string& token, bool call_waiters) {
  std::vector<Then> go;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!signing_in_ || turn != turn_) return;
    signing_in_ = false;
    go.swap(waiting_);
  }
  if (!call_waiters) return;
  for (auto& t : go) t(token, nullptr);
}

SigninTurn::~SigninTurn() {
  if (!ended_) cache_->end_signin(turn_, {}, /*call_waiters=*/false);
}

void SigninTurn::succeeded(std::string token) {
  if (ended_) return;
  ended_ = true;
  cache_->learn_token(std::move(token), turn_);
  cache_->end_signin(turn_, cache_->get(), /*call_waiters=*/true);
}

void SigninTurn::failed() {
  if (ended_) return;
  ended_ = true;
  cache_->end_signin(turn_, {}, /*call_waiters=*/true);
}

}  // namespace cortex::pool::detail
