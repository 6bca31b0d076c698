#include "cluster.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <thread>

#include "duration.h"
#include "start_log.h"

extern char** environ;

namespace baton::bench {
namespace {

using std::chrono::milliseconds;

// Starts argv with stdin from /dev/null, stdout/stderr on the given descriptors, and this
// process's environment with `extra_env` ("NAME=value") before it.
std::optional<pid_t> Spawn(const std::vector<std::string>& argv, int out_fd, int err_fd,
                           const std::vector<std::string>& extra_env = {}) {
  std::vector<char*> c_argv;
  for (const auto& a : argv) c_argv.push_back(const_cast<char*>(a.c_str()));
  c_argv.push_back(nullptr);
  std::vector<char*> env;
  for (const auto& e : extra_env) env.push_back(const_cast<char*>(e.c_str()));
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  env.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, c_argv[0], &actions, nullptr, c_argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    std::fprintf(stderr, "bench: cannot start %s: %s\n", argv[0].c_str(), std::strerror(rc));
    return std::nullopt;
  }
  return pid;
}

struct ProcEntry {
  pid_t ppid = 0;
  char state = '?';
  std::string name;
};

// Every process on the machine by pid, from /proc/<pid>/stat.
std::map<pid_t, ProcEntry> ReadProcTable() {
  std::map<pid_t, ProcEntry> table;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return table;
  while (dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::ifstream in(std::string("/proc/") + entry->d_name + "/stat");
    std::string stat;
    if (!std::getline(in, stat)) continue;
    // "pid (comm) state ppid ...": comm may hold spaces or parentheses, so split at the last ')'.
    const auto open = stat.find('(');
    const auto close = stat.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close + 4 > stat.size()) {
      continue;
    }
    ProcEntry e;
    e.name = stat.substr(open + 1, close - open - 1);
    e.state = stat[close + 2];
    e.ppid = static_cast<pid_t>(std::strtol(stat.c_str() + close + 4, nullptr, 10));
    table[static_cast<pid_t>(pid)] = e;
  }
  closedir(dir);
  return table;
}

// This process's living (non-zombie) descendants, described as "pid N (name)".
std::map<pid_t, std::string> LivingDescendants() {
  const auto table = ReadProcTable();
  std::map<pid_t, std::string> found;
  std::vector<pid_t> frontier = {getpid()};
  while (!frontier.empty()) {
    const pid_t parent = frontier.back();
    frontier.pop_back();
    for (const auto& [pid, e] : table) {
      if (e.ppid != parent || found.contains(pid)) continue;
      frontier.push_back(pid);
      if (e.state != 'Z') found[pid] = "pid " + std::to_string(pid) + " (" + e.name + ")";
    }
  }
  return found;
}

// The children of `parent` that are still running.
std::vector<pid_t> ChildrenOf(pid_t parent) {
  std::vector<pid_t> children;
  for (const auto& [pid, e] : ReadProcTable()) {
    if (e.ppid == parent && e.state != 'Z') children.push_back(pid);
  }
  return children;
}

// Runs argv to its end and returns what it wrote on stdout (stderr is dropped); nullopt when
// it could not be started. Waited for by pid, before any ReapAll() can take it: this is
// single-threaded.
std::optional<std::string> Capture(const std::vector<std::string>& argv,
                                   const std::vector<std::string>& extra_env = {}) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return std::nullopt;
  const int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  auto pid = Spawn(argv, fds[1], null_fd, extra_env);
  close(fds[1]);
  close(null_fd);
  std::string out;
  if (pid) {
    char chunk[4096];
    for (ssize_t n; (n = read(fds[0], chunk, sizeof chunk)) != 0;) {
      if (n > 0) out.append(chunk, static_cast<size_t>(n));
      if (n < 0 && errno != EINTR) break;
    }
  }
  close(fds[0]);
  if (!pid) return std::nullopt;
  int status = 0;
  while (waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  return out;
}

}  // namespace

Cluster::Cluster(ClusterOptions options) : options_(std::move(options)) {}

Cluster::~Cluster() {
  if (!shut_down_) Shutdown(milliseconds(5000));
}

bool Cluster::BecomeSubreaper() { return prctl(PR_SET_CHILD_SUBREAPER, 1) == 0; }

std::optional<std::string> Cluster::StartInstance() {
  const std::string id = "bench-" + std::to_string(next_index_++);
  const std::string log_path = options_.log_dir + "/" + id + ".log";
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    std::fprintf(stderr, "bench: cannot create %s: %s\n", log_path.c_str(), std::strerror(errno));
    return std::nullopt;
  }
  // etcdctl passes its environment on to the command, so the child can still say who it is.
  auto pid = Spawn(WrapperArgv(id), log_fd, log_fd, {"BATON_INSTANCE=" + id, "ETCDCTL_API=3"});
  close(log_fd);
  if (!pid) return std::nullopt;
  live_[id] = *pid;
  return id;
}

std::set<std::string> Cluster::LiveIds() {
  ReapAll();
  std::set<std::string> ids;
  for (const auto& [id, pid] : live_) {
    if (!exited_.contains(pid)) ids.insert(id);
  }
  return ids;
}

std::optional<pid_t> Cluster::PidOf(const std::string& id) const {
  auto it = live_.find(id);
  if (it == live_.end()) return std::nullopt;
  return it->second;
}

std::optional<int64_t> Cluster::Signal(const std::string& id, int sig) {
  auto pid = PidOf(id);
  if (!pid || exited_.contains(*pid)) return std::nullopt;
  const int64_t now = MonoNs();
  if (kill(*pid, sig) != 0) return std::nullopt;
  return now;
}

std::optional<int> Cluster::WaitExit(const std::string& id, milliseconds timeout) {
  auto pid = PidOf(id);
  if (!pid) return std::nullopt;
  const int64_t deadline = MonoNs() + timeout.count() * 1'000'000;
  while (true) {
    ReapAll();
    if (auto it = exited_.find(*pid); it != exited_.end()) {
      const int status = it->second;
      live_.erase(id);
      exited_.erase(it);
      return status;
    }
    if (MonoNs() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(milliseconds(2));
  }
}

void Cluster::ReapAll() {
  int status = 0;
  for (pid_t pid; (pid = waitpid(-1, &status, WNOHANG)) > 0;) {
    for (const auto& [id, baton_pid] : live_) {
      if (baton_pid == pid) exited_[pid] = status;
    }
  }
}

std::vector<std::string> Cluster::WrapperArgv(const std::string& id) const {
  std::vector<std::string> argv;
  if (options_.wrapper == Wrapper::kEtcdctlLock) {
    const auto ttl = std::chrono::duration_cast<std::chrono::seconds>(*ParseDuration(options_.ttl));
    argv = {options_.etcdctl, "--endpoints=" + EtcdEndpoints(), "lock",
            "--ttl=" + std::to_string(ttl.count()), LockName()};
  } else {
    argv = {options_.baton, "run", "--store", options_.store_url, "--group", options_.group,
            "--id",         id,    "--ttl",   options_.ttl};
    argv.insert(argv.end(), options_.extra_run_args.begin(), options_.extra_run_args.end());
  }
  argv.push_back("--");
  argv.insert(argv.end(), options_.child.begin(), options_.child.end());
  return argv;
}

std::string Cluster::EtcdEndpoints() const {
  const std::string rest = options_.store_url.substr(options_.store_url.find("://") + 3);
  return rest.substr(0, rest.find('/'));
}

std::string Cluster::LockName() const {
  const std::string rest = options_.store_url.substr(options_.store_url.find("://") + 3);
  const auto slash = rest.find('/');
  std::string prefix = slash == std::string::npos ? "/" : rest.substr(slash);
  if (prefix.back() != '/') prefix += '/';
  return prefix + options_.group;
}

bool Cluster::Settled(const std::string& active) {
  const std::set<std::string> live = LiveIds();
  if (options_.wrapper == Wrapper::kBaton) {
    auto view = Status();
    return view && view->members == live && view->active == active;
  }
  if (!live.contains(active)) return false;
  // Each waiter and the holder own one key "<lock>/<lease>"; a killed wrapper's key stays
  // until its lease expires.
  auto out = Capture({options_.etcdctl, "--endpoints=" + EtcdEndpoints(), "get", LockName() + "/",
                      "--prefix", "--keys-only"},
                     {"ETCDCTL_API=3"});
  if (!out) return false;
  size_t keys = 0;
  for (size_t at = 0; (at = out->find(LockName() + "/", at)) != std::string::npos; ++at) ++keys;
  return keys == live.size();
}

bool Cluster::StopDescendant(pid_t pid, milliseconds patience) {
  kill(pid, SIGTERM);
  for (int64_t end = MonoNs() + patience.count() * 1'000'000; MonoNs() < end;) {
    ReapAll();  // An orphan is ours to reap; only then does kill() stop finding it.
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  kill(pid, SIGKILL);
  for (int64_t end = MonoNs() + 1'000'000'000; MonoNs() < end;) {
    ReapAll();
    if (kill(pid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(milliseconds(2));
  }
  return false;
}

std::optional<GroupView> Cluster::Status() {
  const auto out = Capture({options_.baton, "status", "--store", options_.store_url, "--group",
                            options_.group, "--json"});
  if (!out) return std::nullopt;
  const auto json = nlohmann::json::parse(*out, nullptr, false);
  if (json.is_discarded() || !json.is_object()) return std::nullopt;
  GroupView view;
  if (json.contains("active") && json["active"].is_string()) {
    view.active = json["active"].get<std::string>();
  }
  if (json.contains("members") && json["members"].is_array()) {
    for (const auto& m : json["members"]) {
      if (m.contains("id") && m["id"].is_string()) view.members.insert(m["id"].get<std::string>());
    }
  }
  return view;
}

std::vector<std::string> Cluster::Shutdown(milliseconds patience) {
  shut_down_ = true;
  std::vector<std::string> leaks;
  for (const auto& id : LiveIds()) {
    Signal(id, SIGTERM);
    if (options_.wrapper != Wrapper::kEtcdctlLock) continue;
    // The child's exit is what makes etcdctl release the lock and exit.
    for (pid_t child : ChildrenOf(*PidOf(id))) kill(child, SIGTERM);
  }
  const int64_t deadline = MonoNs() + patience.count() * 1'000'000;
  for (const auto& id : LiveIds()) {
    const int64_t left_ms = std::max<int64_t>(0, (deadline - MonoNs()) / 1'000'000);
    if (WaitExit(id, milliseconds(left_ms))) continue;
    leaks.push_back("baton " + id + " (pid " + std::to_string(*PidOf(id)) +
                    ") did not exit on SIGTERM");
    Signal(id, SIGKILL);
    WaitExit(id, milliseconds(1000));
  }
  // A baton that exited cleanly has already waited for its guardian and child. Orphans of
  // a SIGKILLed baton are stopped by their guardian within its grace; give them that long.
  std::map<pid_t, std::string> left;
  for (int64_t end = MonoNs() + patience.count() * 1'000'000; MonoNs() < end;) {
    ReapAll();
    left = LivingDescendants();
    if (left.empty()) break;
    std::this_thread::sleep_for(milliseconds(10));
  }
  for (const auto& [pid, what] : left) {
    leaks.push_back(what + " was still running after every baton had exited");
    kill(pid, SIGKILL);
  }
  // Reap what was just killed (it is ours: we are its subreaper).
  for (int64_t end = MonoNs() + 2'000'000'000; MonoNs() < end && !LivingDescendants().empty();) {
    ReapAll();
    std::this_thread::sleep_for(milliseconds(10));
  }
  ReapAll();
  live_.clear();
  exited_.clear();
  return leaks;
}

}  // namespace baton::bench
