#include "cortex/storage/local_server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <map>
#include <mutex>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

// After the standard headers: every translation unit must see the same allocator declarations
// when Asio picks its handler allocator.
#include <asio/post.hpp>
#include <asio/thread_pool.hpp>

#include "cortex/storage/error.hpp"
#include "cortex/storage/log.hpp"

// Where the engine may be, in the order tried after the CORTEX_SURREALDB_LOCAL_DIR environment
// variable: the installed copy (CMake's install prefix), then the source tree this was built from.
#ifndef CORTEX_SURREALDB_LOCAL_INSTALL_DIR
#define CORTEX_SURREALDB_LOCAL_INSTALL_DIR ""
#endif
#ifndef CORTEX_SURREALDB_LOCAL_SOURCE_DIR
#define CORTEX_SURREALDB_LOCAL_SOURCE_DIR "tools/surrealdb-local"
#endif

extern char** environ;  // POSIX: the process environment (unistd.h declares it only with _GNU_SOURCE)

namespace cortex::storage {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void start_failed(const std::string& why) {
  throw Error(make_error_code(Errc::server_start_failed), "local SurrealDB server: " + why);
}

std::string find_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= p.size()) {
    const auto end = p.find(':', start);
    std::string dir = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty()) {
      const std::string full = dir + "/" + name;
      if (::access(full.c_str(), X_OK) == 0) return full;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return {};
}

std::string require_node() {
  std::string node = find_on_path("node");
  if (node.empty()) start_failed("`node` is not on PATH: install Node.js 18 or newer (Debian: apt-get install nodejs npm)");
  return node;
}

bool readable(const std::string& path) { return ::access(path.c_str(), R_OK) == 0; }

// <dir of the running executable>/../share/cortex_storage/surrealdb-local: an installed program
// finds the engine installed beside it, wherever the prefix was moved.
std::string beside_executable() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string exe(buf, static_cast<std::size_t>(n));
  const auto slash = exe.rfind('/');
  if (slash == std::string::npos) return {};
  return exe.substr(0, slash) + "/../share/cortex_storage/surrealdb-local";
}

}  // namespace

std::string local_engine_dir() {
  const char* env = std::getenv("CORTEX_SURREALDB_LOCAL_DIR");
  if (env && *env) {
    if (!readable(std::string(env) + "/server.js")) {
      start_failed(std::string("CORTEX_SURREALDB_LOCAL_DIR=") + env + " has no server.js");
    }
    return env;
  }
  std::string tried;
  for (const std::string& dir : {beside_executable(), std::string(CORTEX_SURREALDB_LOCAL_INSTALL_DIR),
                                 std::string(CORTEX_SURREALDB_LOCAL_SOURCE_DIR)}) {
    if (dir.empty()) continue;
    if (readable(dir + "/server.js")) return dir;
    tried += (tried.empty() ? "" : ", ") + dir;
  }
  start_failed("the local engine (tools/surrealdb-local) was not found in " + tried +
               ": install cortex-storage (cmake --install) or set CORTEX_SURREALDB_LOCAL_DIR to its directory");
}

namespace {

std::uint16_t free_port(const std::string& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  socklen_t len = sizeof a;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) ::close(fd);
    start_failed("no free port on " + host);
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string temp_dir() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

std::string log_path_for(std::uint16_t port) { return temp_dir() + "/cortex-surrealdb-" + std::to_string(port) + ".log"; }

// Removes the log when nothing was written to it: a test run starts hundreds of quiet engines.
void remove_if_empty(const std::string& path) {
  struct stat st {};
  // A regular file only: the log may be /dev/null (see start), which must never go.
  if (!path.empty() && ::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0) ::unlink(path.c_str());
}

// One HTTP GET /health on loopback; true on "200".
bool healthy(const std::string& host, std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, host.c_str(), &a.sin_addr);
  bool ok = false;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
    const char req[] = "GET /health HTTP/1.0\r\nHost: localhost\r\n\r\n";
    if (::send(fd, req, sizeof req - 1, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof req - 1)) {
      pollfd p{fd, POLLIN, 0};
      char buf[64] = {};
      if (::poll(&p, 1, 2000) == 1 && ::recv(fd, buf, sizeof buf - 1, 0) > 12) ok = std::strstr(buf, " 200") != nullptr;
    }
  }
  ::close(fd);
  return ok;
}

// This process's environment without any SURREAL_USER/SURREAL_PASS of its own, plus the options'.
std::vector<std::string> child_environment(const std::string& user, const std::string& pass) {
  std::vector<std::string> out;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view kv(*e);
    if (kv.rfind("SURREAL_USER=", 0) == 0 || kv.rfind("SURREAL_PASS=", 0) == 0) continue;
    out.emplace_back(kv);
  }
  if (!user.empty()) {
    out.push_back("SURREAL_USER=" + user);
    out.push_back("SURREAL_PASS=" + pass);
  }
  return out;
}

// Runs `fork_child` (which forks and returns the child's pid, or -1) on the process's spawner
// thread, and returns its result with fork's errno. The child asks for SIGKILL when its parent
// dies (PR_SET_PDEATHSIG), and to the kernel its parent is the *thread* that forked it: forked on
// a caller's thread, the engine died when that thread ended — a ConnectionManager built on a
// std::thread that then returned lost its embedded engine. The spawner thread lives until the
// process ends (never joined, its pool never destroyed: not even static destruction stops it), so
// the engine lives as long as its LocalServer and still dies with the process.
std::pair<pid_t, int> fork_on_spawner_thread(const std::function<pid_t()>& fork_child) {
  static std::mutex mu;
  static asio::thread_pool* spawner = nullptr;
  static pid_t spawner_pid = 0;
  asio::thread_pool* pool = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu);
    // A process forked from this one (a pre-forking server, Python's multiprocessing) has a copy
    // of the pool but not its thread: it needs its own. The copy is left as it is (joining a
    // thread that is not there would hang).
    if (!spawner || spawner_pid != ::getpid()) {
      spawner = new asio::thread_pool(1);
      spawner_pid = ::getpid();
    }
    pool = spawner;
  }
  std::promise<std::pair<pid_t, int>> forked;
  auto result = forked.get_future();
  // The caller waits below, so `fork_child` may be held by reference.
  asio::post(*pool, [&fork_child, forked = std::move(forked)]() mutable {
    const pid_t pid = fork_child();
    forked.set_value({pid, pid < 0 ? errno : 0});
  });
  return result.get();
}

}  // namespace

LocalServer::LocalServer(LocalServerOptions options) : options_(std::move(options)) {
  port_ = options_.port;
  start();
}

LocalServer::~LocalServer() { stop(); }

std::shared_ptr<LocalServer> LocalServer::shared(const Endpoint& endpoint, LocalServerOptions options) {
  if (!endpoint.is_local()) {
    throw Error(make_error_code(Errc::invalid_url), endpoint.to_string() + " is not a local engine URL");
  }
  // The name of a mem:// engine is ours, not the engine's: each runs a plain in-memory store.
  options.store = endpoint.scheme == Scheme::mem ? "mem://" : endpoint.to_string();
  if (endpoint.scheme == Scheme::mem && endpoint.path.empty()) return std::make_shared<LocalServer>(std::move(options));
  static std::mutex mu;
  static std::map<std::string, std::weak_ptr<LocalServer>> engines;
  // Held while a new engine starts: a second caller for the same store waits for it rather than
  // starting a rival on the same directory.
  std::lock_guard<std::mutex> lock(mu);
  const std::string key = endpoint.to_string();
  if (auto running = engines[key].lock()) return running;
  for (auto it = engines.begin(); it != engines.end();) it = it->second.expired() ? engines.erase(it) : std::next(it);
  auto started = std::make_shared<LocalServer>(std::move(options));
  engines[key] = started;
  return started;
}

std::string LocalServer::url() const { return "ws://" + options_.host + ":" + std::to_string(port_) + "/rpc"; }

void LocalServer::start() {
  const std::string surreal =
      options_.prefer_surreal_binary && options_.script.empty() && options_.engine == 3 ? find_on_path("surreal") : std::string();
  std::vector<std::string> args;
  if (!options_.script.empty()) {
    args = {require_node(), options_.script, "--bind", options_.host + ":" + std::to_string(port_)};
  } else if (!surreal.empty()) {
    if (port_ == 0) port_ = free_port(options_.host);
    args = {surreal, "start", "--bind", options_.host + ":" + std::to_string(port_)};
    if (options_.allow_guests) args.emplace_back("--allow-guests");
    if (options_.quiet) args.insert(args.end(), {"--log", "error"});
    args.push_back(options_.store == "mem://" ? "memory" : options_.store);
  } else {
    if (options_.server_dir.empty()) options_.server_dir = local_engine_dir();
    const std::string script = options_.server_dir + "/server.js";
    if (!readable(script)) start_failed(script + " not found (set CORTEX_SURREALDB_LOCAL_DIR to the engine's directory)");
    if (!readable(options_.server_dir + "/node_modules/@surrealdb/node/package.json") ||
        !readable(options_.server_dir + "/node_modules/ws/package.json")) {
      start_failed("the engine's npm packages are missing: run `npm ci` in " + options_.server_dir);
    }
    if (options_.engine != 2 && options_.engine != 3) start_failed("engine " + std::to_string(options_.engine) + " is not 2 or 3");
    if (options_.engine == 2 && !readable(options_.server_dir + "/node_modules/@surrealdb/node-linux-x64-gnu/package.json")) {
      start_failed("the SurrealDB 2.1.1 engine (npm @surrealdb/node-linux-x64-gnu, linux-x64 only) is missing: run `npm ci` in " +
                   options_.server_dir);
    }
    args = {require_node(), script, "--bind", options_.host + ":" + std::to_string(port_), "--store", options_.store,
            "--engine", std::to_string(options_.engine)};
    if (options_.allow_guests) args.emplace_back("--allow-guests");
    if (options_.quiet) args.emplace_back("--quiet");
  }

  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  // The engine's stderr goes to a file, never into the terminal of the program that embeds it
  // (where a Rust panic of the engine would land in the middle of the program's own output). Named
  // by port; while the port is still unknown (the npm server picks it) a temporary name, renamed
  // once the server says where it listens.
  static std::atomic<unsigned> starts{0};
  log_path_ = port_ != 0 ? log_path_for(port_)
                         : temp_dir() + "/cortex-surrealdb-starting-" + std::to_string(::getpid()) + "-" + std::to_string(++starts) + ".log";
  // Never through a link another user planted in the shared temp directory; a name we cannot
  // open (taken by someone else) costs the log, not the engine.
  int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (log_fd < 0) {
    log(LogLevel::warning, "the engine's log " + log_path_ + " cannot be opened (" + std::strerror(errno) + "): its stderr is dropped");
    log_path_ = "/dev/null";
    log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CLOEXEC);
    if (log_fd < 0) start_failed(std::string("cannot open /dev/null: ") + std::strerror(errno));
  }
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(log_fd);
    start_failed(std::string("pipe: ") + std::strerror(errno));
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The root user goes in the environment (SURREAL_USER/SURREAL_PASS, which `surreal start` and
  // server.js both read), never on the command line: /proc/PID/cmdline is world-readable.
  std::vector<std::string> env_strings = child_environment(options_.user, options_.pass);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = ::getpid();
  const auto [pid, fork_errno] = fork_on_spawner_thread([&]() -> pid_t {
    const pid_t child = ::fork();
    if (child != 0) return child;
    // Child: only async-signal-safe calls until exec. The server must not outlive a crashed test.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    // Nothing else of the parent's goes along: an inherited listening socket (the parent's own
    // servers, a test's proxy) would keep accepting in the child after the parent closed it.
    if (::syscall(SYS_close_range, 3u, ~0u, 0u) != 0) {
      for (int fd = 3; fd < 65536; ++fd) ::close(fd);  // kernels before 5.9
    }
    ::setpgid(0, 0);
    // The spawner thread has the signal mask of the thread that first started an engine, which may
    // block signals, and exec keeps the mask: the server must get stop()'s SIGTERM.
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  });
  ::close(log_fd);
  if (pid < 0) {
    ::close(out[0]);
    ::close(out[1]);
    start_failed(std::string("fork: ") + std::strerror(fork_errno));
  }
  ::close(out[1]);
  stdout_fd_ = out[0];
  pid_ = pid;

  const auto deadline = Clock::now() + options_.start_timeout;
  if (surreal.empty()) {
    // The npm server prints "listening on HOST:PORT" once the engine is open and the port bound.
    std::string line;
    while (line.find('\n') == std::string::npos) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{stdout_fd_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) != 1) {
        kill();
        start_failed("no 'listening' line before the start timeout (its log: " + log_path_ + ")");
      }
      char buf[256];
      const auto n = ::read(stdout_fd_, buf, sizeof buf);
      if (n <= 0) {
        kill();
        start_failed("the server exited during start (port " + std::to_string(port_) + " taken? see " + log_path_ + ")");
      }
      line.append(buf, static_cast<std::size_t>(n));
    }
    const auto colon = line.rfind(':', line.find('\n'));
    port_ = static_cast<std::uint16_t>(std::atoi(line.c_str() + colon + 1));
    if (port_ == 0) { kill(); start_failed("unreadable listening line: " + line); }
    const std::string named = log_path_for(port_);
    // The log is named by port, as the README says (a log kept from an earlier engine on the same
    // port is replaced: its name is the documented one). The child's fd follows the file.
    if (named != log_path_ && log_path_ != "/dev/null" && ::rename(log_path_.c_str(), named.c_str()) == 0) log_path_ = named;
    return;
  }
  // `surreal start` has no readiness line: poll /health.
  while (!healthy(options_.host, port_)) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      ::close(stdout_fd_);
      stdout_fd_ = -1;
      start_failed("the server exited during start (port " + std::to_string(port_) + " taken? see " + log_path_ + ")");
    }
    if (Clock::now() > deadline) {
      kill();
      start_failed("no /health answer within the start timeout (its log: " + log_path_ + ")");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void LocalServer::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGCONT);  // a paused server cannot handle SIGTERM
  ::kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) { kill(); return; }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  pid_ = -1;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
  remove_if_empty(log_path_);
}

void LocalServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  if (stdout_fd_ >= 0) ::close(stdout_fd_);
  stdout_fd_ = -1;
  remove_if_empty(log_path_);
}

// Returns once the kernel reports the process stopped: SIGSTOP is delivered asynchronously, and a
// test that pauses the server must not see it answer one more request.
void LocalServer::pause() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGSTOP);
  const std::string stat = "/proc/" + std::to_string(pid_) + "/stat";
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (Clock::now() < deadline) {
    std::ifstream f(stat);
    std::string line;
    std::getline(f, line);
    const auto close = line.rfind(')');  // "pid (comm) S ...": the state follows the command name
    if (!f || close == std::string::npos || (close + 2 < line.size() && (line[close + 2] == 'T' || line[close + 2] == 't'))) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void LocalServer::resume() {
  if (pid_ > 0) ::kill(pid_, SIGCONT);
}

void LocalServer::restart() {
  stop();
  start();
}

}  // namespace cortex::storage
