#include "support/process.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

extern char** environ;

namespace baton::test_support {
namespace {

using Clock = std::chrono::steady_clock;

std::runtime_error SystemError(const std::string& what, int error) {
  return std::runtime_error(what + ": " + std::strerror(error));
}

std::vector<std::string> ChildEnvironment(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "BATON_", 6) != 0) env.emplace_back(*e);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> pointers;
  for (std::string& s : strings) pointers.push_back(s.data());
  pointers.push_back(nullptr);
  return pointers;
}

// Owns what posix_spawn needs, so every exit path releases it.
class SpawnSetup final {
 public:
  SpawnSetup() {
    posix_spawn_file_actions_init(&actions_);
    posix_spawnattr_init(&attr_);
    // A clean signal state: nothing blocked, nothing ignored that the child relies on.
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr_, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD}) sigaddset(&defaults, s);
    posix_spawnattr_setsigdefault(&attr_, &defaults);
    posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawn_file_actions_addopen(&actions_, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  }
  ~SpawnSetup() {
    posix_spawn_file_actions_destroy(&actions_);
    posix_spawnattr_destroy(&attr_);
  }
  SpawnSetup(const SpawnSetup&) = delete;
  SpawnSetup& operator=(const SpawnSetup&) = delete;

  void OutputToFile(int fd, const std::string& path) {
    const std::string target = path.empty() ? "/dev/null" : path;
    posix_spawn_file_actions_addopen(&actions_, fd, target.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                     0644);
  }
  void Duplicate(int from, int to) { posix_spawn_file_actions_adddup2(&actions_, from, to); }

  pid_t Spawn(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
    if (argv.empty()) throw std::runtime_error("spawn: empty argv");
    std::vector<std::string> args = argv;
    std::vector<std::string> env = ChildEnvironment(extra_env);
    pid_t pid = -1;
    const int error = posix_spawn(&pid, args[0].c_str(), &actions_, &attr_, CStrings(args).data(),
                                  CStrings(env).data());
    if (error != 0) throw SystemError("spawn " + args[0], error);
    return pid;
  }

 private:
  posix_spawn_file_actions_t actions_;
  posix_spawnattr_t attr_;
};

ExitStatus FromWaitStatus(int status) {
  ExitStatus result;
  if (WIFEXITED(status)) result.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
  return result;
}

std::string ReadAll(int fd) {
  std::string text;
  lseek(fd, 0, SEEK_SET);
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace

std::string ExitStatus::Describe() const {
  if (signal != 0) return "killed by signal " + std::to_string(signal);
  return "exit " + std::to_string(code);
}

Process Process::Spawn(const SpawnOptions& options) {
  SpawnSetup setup;
  setup.OutputToFile(STDOUT_FILENO, options.stdout_path);
  if (!options.stdout_path.empty() && options.stderr_path == options.stdout_path) {
    setup.Duplicate(STDOUT_FILENO, STDERR_FILENO);
  } else {
    setup.OutputToFile(STDERR_FILENO, options.stderr_path);
  }
  return Process(setup.Spawn(options.argv, options.extra_env));
}

Process::Process(Process&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)), exit_status_(std::move(other.exit_status_)) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    KillAndReap();
    pid_ = std::exchange(other.pid_, -1);
    exit_status_ = std::move(other.exit_status_);
  }
  return *this;
}

Process::~Process() { KillAndReap(); }

void Process::KillAndReap() {
  if (pid_ > 0 && !exit_status_) {
    kill(pid_, SIGKILL);
    TryReap(/*block=*/true);
  }
}

void Process::Signal(int signal) const {
  if (pid_ > 0 && !exit_status_) kill(pid_, signal);
}
void Process::Kill() const { Signal(SIGKILL); }
void Process::Terminate() const { Signal(SIGTERM); }
void Process::Stop() const { Signal(SIGSTOP); }
void Process::Continue() const { Signal(SIGCONT); }

bool Process::TryReap(bool block) {
  if (exit_status_) return true;
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_status_ = FromWaitStatus(status);
    return true;
  }
  if (r < 0) {  // Reaped elsewhere (KillDescendants); its status is lost.
    exit_status_ = ExitStatus{};
    return true;
  }
  return false;
}

std::optional<ExitStatus> Process::WaitExit(std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (!TryReap(/*block=*/false)) {
    if (Clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return exit_status_;
}

bool Process::Running() { return !TryReap(/*block=*/false); }

std::string CommandResult::Describe() const {
  std::ostringstream text;
  text << (status ? status->Describe() : "still running at the timeout (killed)")
       << "\n--- stdout ---\n"
       << out << "\n--- stderr ---\n"
       << err;
  return text.str();
}

CommandResult RunCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::vector<std::string>& extra_env) {
  // Anonymous files rather than pipes: nothing to drain while waiting, no deadlock.
  const int out_fd = memfd_create("stdout", MFD_CLOEXEC);
  const int err_fd = memfd_create("stderr", MFD_CLOEXEC);
  if (out_fd < 0 || err_fd < 0) throw SystemError("memfd_create", errno);

  CommandResult result;
  {
    SpawnSetup setup;
    setup.Duplicate(out_fd, STDOUT_FILENO);
    setup.Duplicate(err_fd, STDERR_FILENO);
    Process process(setup.Spawn(argv, extra_env));
    result.status = process.WaitExit(timeout);
  }  // Killed and reaped here if it ran too long.
  result.out = ReadAll(out_fd);
  result.err = ReadAll(err_fd);
  close(out_fd);
  close(err_fd);
  return result;
}

std::optional<ProcessInfo> ReadProcessInfo(pid_t pid) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(file, stat)) return std::nullopt;
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split at the last ')'.
  const auto open = stat.find('(');
  const auto close = stat.rfind(')');
  if (open == std::string::npos || close == std::string::npos || close + 2 >= stat.size()) {
    return std::nullopt;
  }
  ProcessInfo info;
  info.pid = pid;
  info.name = stat.substr(open + 1, close - open - 1);
  std::istringstream rest(stat.substr(close + 2));
  rest >> info.state >> info.ppid;
  return info;
}

bool IsAlive(pid_t pid) {
  if (pid <= 0) return false;
  if (kill(pid, 0) != 0 && errno == ESRCH) return false;
  const std::optional<ProcessInfo> info = ReadProcessInfo(pid);
  return info && info->alive();
}

void BecomeSubreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) throw SystemError("PR_SET_CHILD_SUBREAPER", errno);
}

namespace {
std::set<pid_t>& SharedServers() {
  static std::set<pid_t> pids;
  return pids;
}
}  // namespace

void ShareAcrossTests(pid_t pid) { SharedServers().insert(pid); }

std::vector<ProcessInfo> Descendants() {
  std::map<pid_t, std::vector<ProcessInfo>> children;
  if (DIR* proc = opendir("/proc")) {
    while (dirent* entry = readdir(proc)) {
      char* end = nullptr;
      const long pid = std::strtol(entry->d_name, &end, 10);
      if (*end != '\0' || pid <= 0) continue;
      if (auto info = ReadProcessInfo(static_cast<pid_t>(pid))) {
        children[info->ppid].push_back(*info);
      }
    }
    closedir(proc);
  }
  std::vector<ProcessInfo> found;
  std::vector<pid_t> parents = {getpid()};
  while (!parents.empty()) {
    const pid_t parent = parents.back();
    parents.pop_back();
    for (const ProcessInfo& child : children[parent]) {
      if (SharedServers().count(child.pid) != 0) continue;
      found.push_back(child);
      parents.push_back(child.pid);
    }
  }
  return found;
}

std::vector<pid_t> KillDescendants(std::chrono::milliseconds timeout) {
  std::vector<pid_t> were_alive;
  for (const ProcessInfo& p : Descendants()) {
    if (p.alive()) were_alive.push_back(p.pid);
  }
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    bool any = false;
    for (const ProcessInfo& p : Descendants()) {
      any = true;
      if (p.alive()) kill(p.pid, SIGKILL);
    }
    while (waitpid(-1, nullptr, WNOHANG) > 0) {
    }
    if (!any || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return were_alive;
}

}  // namespace baton::test_support
