#include "guardian/proc_tree.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace baton::guardian::detail {
namespace {

struct ProcStat {
  pid_t ppid = 0;
  char state = '?';
};

// Parses the state and parent out of /proc/PID/stat ("pid (comm) S ppid ..."). The command
// name may hold spaces and parentheses, so the fields start after the last ')'.
bool ReadStat(pid_t pid, ProcStat* out) {
  char path[32];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  const int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  ssize_t n;
  do {
    n = read(fd, buf, sizeof(buf) - 1);
  } while (n < 0 && errno == EINTR);
  close(fd);
  if (n <= 0) return false;
  buf[n] = '\0';
  const char* close_paren = std::strrchr(buf, ')');
  if (close_paren == nullptr) return false;
  char state = 0;
  int ppid = 0;
  if (std::sscanf(close_paren + 1, " %c %d", &state, &ppid) != 2) return false;
  out->state = state;
  out->ppid = ppid;
  return true;
}

std::unordered_map<pid_t, ProcStat> ScanProc() {
  std::unordered_map<pid_t, ProcStat> procs;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return procs;
  while (const dirent* entry = readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(entry->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    ProcStat stat;
    if (ReadStat(static_cast<pid_t>(pid), &stat)) procs[static_cast<pid_t>(pid)] = stat;
  }
  closedir(dir);
  return procs;
}

bool IsDescendant(pid_t pid, pid_t root, const std::unordered_map<pid_t, ProcStat>& procs,
                  std::unordered_map<pid_t, bool>& memo) {
  std::vector<pid_t> path;
  bool result = false;
  pid_t p = pid;
  // The bound only guards against a cycle in a torn snapshot.
  for (size_t steps = 0; steps <= procs.size(); ++steps) {
    if (const auto m = memo.find(p); m != memo.end()) {
      result = m->second;
      break;
    }
    const auto it = procs.find(p);
    if (it == procs.end() || it->second.ppid <= 0) break;
    path.push_back(p);
    if (it->second.ppid == root) {
      result = true;
      break;
    }
    p = it->second.ppid;
  }
  for (pid_t q : path) memo[q] = result;
  return result;
}

int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

int PidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

}  // namespace

std::vector<pid_t> LiveDescendants(pid_t root) {
  const std::unordered_map<pid_t, ProcStat> procs = ScanProc();
  std::unordered_map<pid_t, bool> memo;
  std::vector<pid_t> live;
  for (const auto& [pid, stat] : procs) {
    if (pid == root || stat.state == 'Z' || stat.state == 'X') continue;
    if (IsDescendant(pid, root, procs, memo)) live.push_back(pid);
  }
  return live;
}

int SignalDescendants(pid_t root, int sig) {
  const std::vector<pid_t> live = LiveDescendants(root);
  std::unordered_set<pid_t> family(live.begin(), live.end());
  family.insert(root);
  int signalled = 0;
  for (pid_t pid : live) {
    const int pidfd = PidfdOpen(pid);
    if (pidfd < 0) {
      if (errno == ENOSYS && kill(pid, sig) == 0) ++signalled;  // Kernels before 5.3.
      continue;
    }
    // The pidfd now names one process for good; if that process still has a parent in the
    // family, it is the descendant the scan saw (or a newer one), never a reused pid.
    ProcStat stat;
    if (ReadStat(pid, &stat) && family.count(stat.ppid) != 0 && PidfdSendSignal(pidfd, sig) == 0) {
      ++signalled;
    }
    close(pidfd);
  }
  return signalled;
}

}  // namespace baton::guardian::detail
