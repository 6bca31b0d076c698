#include "guardian/supervisor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "guardian/proc_tree.h"

extern char** environ;

namespace baton::guardian::detail {
namespace {

constexpr int kMaxRescanMs = 16;

int64_t SaturatingSub(int64_t t, int64_t d) {
  if (t == kNoDeadline) return kNoDeadline;
  return t < std::numeric_limits<int64_t>::min() + d ? std::numeric_limits<int64_t>::min() : t - d;
}

int64_t SaturatingAdd(int64_t t, int64_t d) { return t > kNoDeadline - d ? kNoDeadline : t + d; }

std::vector<char*> CStrings(const std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (const std::string& s : strings) out.push_back(const_cast<char*>(s.c_str()));
  out.push_back(nullptr);
  return out;
}

// Runs in the forked child: the guardian is single-threaded, so ordinary calls are safe
// here, but nothing in this function may return.
[[noreturn]] void ExecChild(pid_t guardian, char** argv, char** envp, const int stdio[3],
                            int exec_error_fd) {
  setpgid(0, 0);
  // dup2 clears close-on-exec on the copy; the originals close at the exec.
  for (int i = 0; i < 3; ++i) {
    if (stdio[i] >= 0 && dup2(stdio[i], i) < 0) {
      const int err = errno;
      [[maybe_unused]] ssize_t n = write(exec_error_fd, &err, sizeof(err));
      _exit(127);
    }
  }
  // If the guardian is killed, the child must not outlive it. The check after the prctl
  // closes the race where the guardian died before it took effect.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != guardian) _exit(127);
  struct sigaction dfl = {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // KILL/STOP fail; fine.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // execvp searches the PATH of the environment in force, so set the child's first: the
  // command is looked up the way the child itself would see it.
  environ = envp;
  execvp(argv[0], argv);
  const int err = errno;
  [[maybe_unused]] ssize_t n = write(exec_error_fd, &err, sizeof(err));
  _exit(127);
}

}  // namespace

sigset_t HandledSignals() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  return set;
}

Supervisor::Supervisor(int control_fd, bool enforce_deadline, bool reusable)
    : self_(getpid()),
      control_fd_(control_fd),
      enforce_deadline_(enforce_deadline),
      reusable_(reusable) {
  const sigset_t handled = HandledSignals();
  signal_fd_ = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd_ >= 0) timer_fd_ = timerfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC | TFD_NONBLOCK);
  if (signal_fd_ < 0 || timer_fd_ < 0) spawn_errno_ = errno;  // Reported by Run().
}

Supervisor::~Supervisor() {
  for (int fd : {control_fd_, signal_fd_, timer_fd_, exec_fd_, stdio_[0], stdio_[1], stdio_[2]}) {
    if (fd >= 0) close(fd);
  }
}

bool Supervisor::ReadStart() {
  for (;;) {
    bool corrupt = false;
    while (std::optional<Message> m = reader_.Next(&corrupt)) {
      if (m->type == MessageType::kStart) {
        deadline_ns_ = m->deadline_ns;
        grace_ns_ = std::max<int64_t>(0, m->grace_ns);
        env_ = std::move(m->env);
        std::copy(std::begin(m->stdio), std::end(m->stdio), stdio_);
        return true;
      }
      // Before the first start, anything else is a confused baton; between runs it is a
      // late word about the run that ended.
      if (!reusable_) return false;
    }
    if (corrupt || control_fd_ < 0) return false;
    pollfd fds[2] = {{control_fd_, POLLIN, 0}, {signal_fd_, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) continue;
    if (fds[1].revents != 0) {
      OnSignals(BootNowNs());
      if (stop_requested_) return false;
    }
    if (fds[0].revents != 0) {
      const ssize_t n = ReadInto(control_fd_, reader_);
      if (n == 0 || n == -1) return false;
    }
  }
}

int Supervisor::Run(const std::vector<std::string>& argv) {
  do {
    if (!ReadStart()) return 0;
    RunOnce(argv);
    ResetRun();
  } while (reusable_ && control_fd_ >= 0 && !stop_requested_);
  return 0;
}

void Supervisor::RunOnce(const std::vector<std::string>& argv) {
  if (spawn_errno_ != 0) return Report();
  StartChild(argv, BootNowNs());
  if (child_pid_ < 0) return Report();
  // Messages that arrived together with the start message.
  OnControlReadable(BootNowNs());
  for (;;) {
    Reap();
    if (child_reaped_ && !HasChildren()) break;
    UpdateStops(BootNowNs());
    if (killing_) {
      SignalDescendants(self_, SIGKILL);
      Reap();
      if (child_reaped_ && !HasChildren()) break;
    }
    WaitForEvent(BootNowNs());
  }
  Report();
}

// Everything one run set, so the next starts as a fresh guardian would. A failure to make
// the signal or timer descriptor is not reset: it would fail again.
void Supervisor::ResetRun() {
  for (int& fd : stdio_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  if (exec_fd_ >= 0) close(exec_fd_);
  exec_fd_ = -1;
  deadline_ns_ = kNoDeadline;
  grace_ns_ = 0;
  env_.clear();
  child_pid_ = -1;
  child_reaped_ = false;
  child_status_ = 0;
  exec_errno_ = 0;
  never_started_ = false;
  stopping_ = false;
  cause_ = Cause::kNone;
  kill_by_ = kNoDeadline;
  killing_ = false;
  rescan_ms_ = 1;
  // The previous run ended only once every descendant had been reaped, so nothing can
  // still be stopped; a pending timer expiry would wake the next run's loop once, harmlessly.
}

void Supervisor::StartChild(const std::vector<std::string>& argv, int64_t now) {
  // Starting a child at or past its deadline would let it run, however briefly, when it
  // must not: report the deadline instead.
  if (now >= EnforcedDeadline()) {
    never_started_ = true;
    return;
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    spawn_errno_ = errno;
    return;
  }
  std::vector<char*> c_argv = CStrings(argv);
  std::vector<char*> c_envp = CStrings(env_);
  const pid_t pid = fork();
  if (pid == 0) ExecChild(self_, c_argv.data(), c_envp.data(), stdio_, pipe_fds[1]);
  close(pipe_fds[1]);
  // Only the child may hold them now: a reader of its output waits for the end of file
  // that the last holder's exit gives.
  for (int& fd : stdio_) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  if (pid < 0) {
    spawn_errno_ = errno;
    close(pipe_fds[0]);
    return;
  }
  // Also set from this side, so a SIGTERM to the group cannot miss the child's own
  // setpgid. EACCES once the child has exec'd is fine.
  setpgid(pid, pid);
  child_pid_ = pid;
  exec_fd_ = pipe_fds[0];
  fcntl(exec_fd_, F_SETFL, O_NONBLOCK);
  Message started;
  started.type = MessageType::kStarted;
  started.pid = pid;
  SendNoWait(control_fd_, Encode(started));
}

void Supervisor::Reap() {
  int status = 0;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0 || (pid < 0 && errno == EINTR)) {
    if (pid == child_pid_) {
      child_reaped_ = true;
      child_status_ = status;
    }
  }
}

// Every live descendant has an ancestor (or is one) that is the guardian's own child: the
// guardian is a subreaper, so orphans come to it. No children therefore means no
// descendants at all, whatever a /proc scan may have missed.
bool Supervisor::HasChildren() const {
  siginfo_t info = {};
  return !(waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD);
}

void Supervisor::UpdateStops(int64_t now) {
  if (child_reaped_ && !stopping_) {
    // The child ended by itself but left descendants: they go too, gracefully first.
    BeginStop(Cause::kNone, SaturatingAdd(now, grace_ns_));
  }
  if (!stopping_ && now >= SaturatingSub(EnforcedDeadline(), grace_ns_)) {
    BeginStop(Cause::kDeadline, kNoDeadline);
  }
  if (stopping_ && !killing_ && now >= KillAt()) {
    killing_ = true;
    // The child's group first, without waiting for the /proc scan that finds the rest.
    if (!child_reaped_) SignalChild(SIGKILL);
  }
}

void Supervisor::BeginStop(Cause cause, int64_t kill_by) {
  if (stopping_) {
    kill_by_ = std::min(kill_by_, kill_by);
    return;
  }
  stopping_ = true;
  cause_ = cause;
  kill_by_ = kill_by;
  if (!child_reaped_) {
    SignalChild(SIGTERM);
  } else {
    SignalDescendants(self_, SIGTERM);
  }
}

void Supervisor::SignalChild(int sig) {
  // The child pid stays reserved until the guardian reaps it, so this cannot hit a stranger.
  // One signal per process: some programs take a second SIGTERM as "stop now".
  if (getpgid(child_pid_) == child_pid_) {
    kill(-child_pid_, sig);
  } else {
    kill(child_pid_, sig);
  }
}

int64_t Supervisor::EnforcedDeadline() const {
  return enforce_deadline_ ? deadline_ns_ : kNoDeadline;
}

int64_t Supervisor::KillAt() const { return std::min(kill_by_, EnforcedDeadline()); }

void Supervisor::WaitForEvent(int64_t now) {
  // The timer is CLOCK_BOOTTIME and absolute, so a suspend or a slow loop cannot push
  // the deadline later; poll()'s own timeout is used only for the short kill rescans.
  int64_t next = kNoDeadline;
  if (!stopping_) next = SaturatingSub(EnforcedDeadline(), grace_ns_);
  if (stopping_ && !killing_) next = KillAt();
  itimerspec spec = {};
  if (next != kNoDeadline) {
    next = std::max<int64_t>(next, 1);  // Zero would disarm the timer.
    spec.it_value.tv_sec = next / 1'000'000'000;
    spec.it_value.tv_nsec = next % 1'000'000'000;
  }
  // The system call itself: libfaketime's timerfd_settime shifts an absolute CLOCK_BOOTTIME
  // deadline by its fake wall-clock offset, so a baton under it with the clock stepped back
  // an hour had its children outlive their lease by an hour (found by tools/chaos).
  syscall(SYS_timerfd_settime, timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);

  int timeout_ms = -1;
  if (killing_) {
    timeout_ms = rescan_ms_;
    rescan_ms_ = std::min(rescan_ms_ * 2, kMaxRescanMs);
  }
  pollfd fds[4] = {{signal_fd_, POLLIN, 0},
                   {timer_fd_, POLLIN, 0},
                   {control_fd_, POLLIN, 0},
                   {exec_fd_, POLLIN, 0}};  // Negative descriptors are skipped by poll().
  if (poll(fds, 4, timeout_ms) <= 0) return;
  now = BootNowNs();
  if (fds[0].revents != 0) OnSignals(now);
  if (fds[1].revents != 0) {
    uint64_t expirations;
    [[maybe_unused]] ssize_t n = read(timer_fd_, &expirations, sizeof(expirations));
  }
  if (fds[2].revents != 0) OnControlReadable(now);
  if (fds[3].revents != 0) OnExecPipe();
}

void Supervisor::OnControlReadable(int64_t now) {
  if (control_fd_ < 0) return;
  for (;;) {
    bool corrupt = false;
    while (std::optional<Message> m = reader_.Next(&corrupt)) HandleMessage(*m, now);
    if (corrupt) return BatonGone(now);
    pollfd pfd = {control_fd_, POLLIN, 0};
    if (poll(&pfd, 1, 0) <= 0) return;
    const ssize_t n = ReadInto(control_fd_, reader_);
    if (n == 0 || n == -1) return BatonGone(now);
  }
}

void Supervisor::HandleMessage(const Message& message, int64_t now) {
  switch (message.type) {
    case MessageType::kSetDeadline:
      deadline_ns_ = message.deadline_ns;
      break;
    case MessageType::kTerminate:
      BeginStop(Cause::kTerminated, SaturatingAdd(now, std::max<int64_t>(0, message.grace_ns)));
      break;
    case MessageType::kStart: {
      // Never sent during a run; it only must not leak what it carries.
      Message late = message;
      CloseFds(late);
      break;
    }
    default:
      break;
  }
}

// End of file or an error on the control socket: baton exited, crashed or was killed, and
// nobody is left to move the deadline. Stop as if told to, within grace.
void Supervisor::BatonGone(int64_t now) {
  close(control_fd_);
  control_fd_ = -1;
  BeginStop(Cause::kTerminated, SaturatingAdd(now, grace_ns_));
}

void Supervisor::OnSignals(int64_t now) {
  signalfd_siginfo info;
  while (read(signal_fd_, &info, sizeof(info)) == static_cast<ssize_t>(sizeof(info))) {
    // SIGCHLD needs nothing here: the loop reaps on every pass. A SIGTERM, SIGINT or SIGHUP
    // aimed at the guardian itself stops the child as Terminate() would.
    if (info.ssi_signo == SIGCHLD) continue;
    stop_requested_ = true;
    if (child_pid_ >= 0) BeginStop(Cause::kTerminated, SaturatingAdd(now, grace_ns_));
  }
}

void Supervisor::OnExecPipe() {
  int err = 0;
  const ssize_t n = read(exec_fd_, &err, sizeof(err));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n == static_cast<ssize_t>(sizeof(err))) exec_errno_ = err;
  close(exec_fd_);  // Data or end of file: either way the exec is decided.
  exec_fd_ = -1;
}

void Supervisor::Report() {
  if (exec_fd_ >= 0) OnExecPipe();  // The child is gone, so this cannot block.
  if (control_fd_ < 0) return;
  Message m;
  m.type = MessageType::kExit;
  ChildExit& e = m.exit;
  if (never_started_) {
    e.kind = ExitKind::kDeadline;
  } else if (spawn_errno_ != 0 || exec_errno_ != 0) {
    e.kind = ExitKind::kSpawnFailed;
    e.code = spawn_errno_ != 0 ? spawn_errno_ : exec_errno_;
  } else {
    if (WIFEXITED(child_status_)) {
      e.kind = ExitKind::kExited;
      e.code = WEXITSTATUS(child_status_);
    } else if (WIFSIGNALED(child_status_)) {
      e.kind = ExitKind::kSignaled;
      e.signal = WTERMSIG(child_status_);
    }
    // Once the guardian has begun to stop the child, that is why it ended, however it
    // died (code and signal still say how).
    if (cause_ == Cause::kDeadline) e.kind = ExitKind::kDeadline;
    if (cause_ == Cause::kTerminated) e.kind = ExitKind::kTerminated;
  }
  SendNoWait(control_fd_, Encode(m));
}

}  // namespace baton::guardian::detail
