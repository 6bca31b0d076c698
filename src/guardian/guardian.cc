// baton's side of the guardian: starting it and talking to it over the control socket.

#include "guardian/guardian.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "guardian/protocol.h"

extern char** environ;

namespace baton::guardian {
namespace {

// How long Spawn() waits for the guardian to say it has forked the child. It only has to
// read one message and fork, so this bounds a broken guardian, not a slow one.
constexpr Duration kStartTimeout = std::chrono::seconds(10);

int64_t ToNs(TimePoint t) { return t.time_since_epoch().count(); }

// Milliseconds for poll() until `until`, rounded up so a wait never ends early.
int PollTimeoutMs(TimePoint until) {
  if (until == TimePoint::max()) return -1;
  const Duration left = until - BootClock::now();
  if (left <= Duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<int64_t>(ms, 1'000'000));
}

TimePoint After(Duration d) {
  const TimePoint now = BootClock::now();
  return d >= TimePoint::max() - now ? TimePoint::max() : now + d;
}

// argv[0] for the guardian: what `ps` shows. The exec itself still goes through
// /proc/self/exe, which stays right even if the binary on disk is replaced meanwhile.
std::string DisplayName(const std::string& exe) {
  if (exe != "/proc/self/exe") return exe;
  char path[4096];
  const ssize_t n = readlink(exe.c_str(), path, sizeof(path) - 1);
  return n > 0 ? std::string(path, static_cast<size_t>(n)) : exe;
}

Error SpawnError(const std::string& what) {
  return Error(ErrorCode::kInvalidArgument, "cannot start the guardian: " + what);
}

}  // namespace

struct GuardedChild::Impl {
  int fd = -1;
  pid_t guardian_pid = -1;
  std::mutex send_mu;        // One frame at a time on the socket.
  std::timed_mutex read_mu;  // One reader; guards everything below.
  detail::MessageReader reader;
  bool eof = false;
  bool corrupt = false;
  pid_t started_pid = -1;
  std::optional<ChildExit> report;
  std::optional<ChildExit> result;
  bool reaped = false;

  void Send(const detail::Message& message) {
    std::lock_guard lock(send_mu);
    // A failure means the guardian is gone; Wait() will tell how it ended.
    detail::SendAll(fd, detail::Encode(message));
  }

  // Reads and handles whatever arrives by `until`. False on timeout. REQUIRES: read_mu.
  bool ReadSome(TimePoint until) {
    pollfd pfd = {fd, POLLIN, 0};
    const int ready = poll(&pfd, 1, PollTimeoutMs(until));
    if (ready < 0) return errno == EINTR;
    // poll() may return early (its timeout is capped and on another clock): only a time-out
    // that really reached `until` counts.
    if (ready == 0) return BootClock::now() < until;
    const ssize_t n = detail::ReadInto(fd, reader);
    if (n == 0 || n == -1) eof = true;
    while (!corrupt) {
      std::optional<detail::Message> m = reader.Next(&corrupt);
      if (!m) break;
      if (m->type == detail::MessageType::kStarted) started_pid = m->pid;
      if (m->type == detail::MessageType::kExit) report = m->exit;
    }
    return true;
  }

  void ReapGuardian() {
    if (reaped) return;
    int status = 0;
    while (waitpid(guardian_pid, &status, 0) < 0 && errno == EINTR) {
    }
    reaped = true;  // Also on ECHILD: someone else reaped it (SIGCHLD ignored, say).
  }
};

Result<std::unique_ptr<GuardedChild>> GuardedChild::Prepare(const SpawnOptions& options) {
  if (options.argv.empty()) return SpawnError("no command was given");
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return SpawnError(std::string("socketpair: ") + std::strerror(errno));
  }
  // Both ends are close-on-exec so no other process baton starts can hold them (baton's
  // end held elsewhere would hide baton's death from the guardian). The guardian's end is
  // moved above kControlFd so the dup2 below always clears that flag in the guardian.
  const int theirs = fcntl(sv[1], F_DUPFD_CLOEXEC, detail::kControlFd + 1);
  close(sv[1]);
  if (theirs < 0) {
    close(sv[0]);
    return SpawnError(std::string("fcntl: ") + std::strerror(errno));
  }

  std::vector<std::string> args = {DisplayName(options.guardian_exe), "__guardian",
                                   "--control-fd=" + std::to_string(detail::kControlFd)};
  if (options.reusable) args.push_back("--reusable");
  args.push_back("--");
  args.insert(args.end(), options.argv.begin(), options.argv.end());
  std::vector<char*> c_args;
  for (std::string& a : args) c_args.push_back(a.data());
  c_args.push_back(nullptr);

  // posix_spawn, not fork: baton has threads, and glibc's posix_spawn runs nothing but
  // these file actions between its vfork-style clone and the exec.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (options.stdin_fd >= 0) posix_spawn_file_actions_adddup2(&actions, options.stdin_fd, 0);
  if (options.stdout_fd >= 0) posix_spawn_file_actions_adddup2(&actions, options.stdout_fd, 1);
  if (options.stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, options.stderr_fd, 2);
  posix_spawn_file_actions_adddup2(&actions, theirs, detail::kControlFd);
  posix_spawn_file_actions_addclosefrom_np(&actions, detail::kControlFd + 1);
  // baton blocks signals for its signal thread; the guardian starts clean.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigset_t all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  // The guardian keeps baton's environment (BATON_UNSAFE_IGNORE_DEADLINE is read there);
  // the child's comes over the socket.
  const int rc =
      posix_spawn(&pid, options.guardian_exe.c_str(), &actions, &attr, c_args.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  close(theirs);
  if (rc != 0) {
    close(sv[0]);
    return SpawnError(options.guardian_exe + ": " + std::strerror(rc));
  }

  std::unique_ptr<GuardedChild> child(new GuardedChild());
  child->impl_ = std::make_unique<Impl>();
  Impl& impl = *child->impl_;
  impl.fd = sv[0];
  impl.guardian_pid = pid;
  child->guardian_pid_ = pid;
  child->command_ = options.guardian_exe;
  child->reusable_ = options.reusable;
  return child;
}

Result<void> GuardedChild::Start(std::vector<std::string> env, TimePoint deadline, Duration grace,
                                 Stdio stdio) {
  Impl& impl = *impl_;
  std::lock_guard lock(impl.read_mu);
  // A reusable guardian's previous run, if any, has reported: this is a new one.
  impl.started_pid = -1;
  impl.report.reset();
  impl.result.reset();
  child_pid_ = -1;
  detail::Message start;
  start.type = detail::MessageType::kStart;
  start.deadline_ns = ToNs(deadline);
  start.grace_ns = std::max(grace, Duration::zero()).count();
  start.env = std::move(env);
  start.stdio[0] = stdio.in;
  start.stdio[1] = stdio.out;
  start.stdio[2] = stdio.err;
  {
    std::lock_guard send_lock(impl.send_mu);
    // A failure means the guardian is gone; the read below tells.
    detail::SendFrame(impl.fd, start);
  }

  const TimePoint until = After(kStartTimeout);
  while (impl.started_pid < 0 && !impl.report && !impl.eof && !impl.corrupt) {
    if (!impl.ReadSome(until)) {
      kill(impl.guardian_pid, SIGKILL);  // The destructor reaps it.
      return SpawnError(command_ + " did not start the command in time");
    }
  }
  if (impl.started_pid < 0 && !impl.report) {
    return SpawnError(command_ + " exited before starting the command (is it baton?)");
  }
  child_pid_ = impl.started_pid;
  return Ok();
}

Result<std::unique_ptr<GuardedChild>> GuardedChild::Spawn(const SpawnOptions& options) {
  auto child = Prepare(options);
  if (!child) return child;
  if (auto started = (*child)->Start(options.env, options.deadline, options.grace); !started) {
    return started.error();
  }
  return child;
}

GuardedChild::~GuardedChild() {
  if (!impl_) return;
  // End of file tells the guardian baton is done with it: it stops the child within grace
  // and exits. Waiting for that here means a destroyed handle never leaves a child behind
  // (or a zombie guardian).
  close(impl_->fd);
  impl_->ReapGuardian();
}

void GuardedChild::SetDeadline(TimePoint deadline) {
  detail::Message m;
  m.type = detail::MessageType::kSetDeadline;
  m.deadline_ns = ToNs(deadline);
  impl_->Send(m);
}

void GuardedChild::Terminate(Duration grace) {
  detail::Message m;
  m.type = detail::MessageType::kTerminate;
  m.grace_ns = std::max(grace, Duration::zero()).count();
  impl_->Send(m);
}

std::optional<ChildExit> GuardedChild::Wait(std::optional<Duration> timeout) {
  Impl& impl = *impl_;
  const TimePoint until = timeout ? After(*timeout) : TimePoint::max();
  std::unique_lock lock(impl.read_mu, std::defer_lock);
  if (!timeout) {
    lock.lock();
  } else if (!lock.try_lock_for(std::max(*timeout, Duration::zero()))) {
    return std::nullopt;
  }
  if (impl.result) return impl.result;
  if (reusable_) {
    // The report comes once the child and every descendant are gone.
    while (!impl.report && !impl.eof && !impl.corrupt) {
      if (!impl.ReadSome(until)) return std::nullopt;
    }
    if (impl.report && !impl.corrupt) {
      impl.result = impl.report;
      return impl.result;
    }
  }
  // The guardian closes the socket only by exiting, and it exits only once the child and
  // every descendant are gone.
  while (!impl.eof) {
    if (!impl.ReadSome(until)) return std::nullopt;
  }
  impl.ReapGuardian();
  // No report means the guardian itself was killed; the child then got SIGKILL from
  // PR_SET_PDEATHSIG.
  impl.result = impl.report.value_or(ChildExit{ExitKind::kSignaled, 0, SIGKILL});
  return impl.result;
}

bool GuardedChild::CanRunAgain() const {
  std::lock_guard lock(impl_->read_mu);
  return reusable_ && impl_->result && !impl_->eof && !impl_->corrupt && !impl_->reaped;
}

const char* ToString(ExitKind kind) {
  switch (kind) {
    case ExitKind::kExited:
      return "exited";
    case ExitKind::kSignaled:
      return "killed by a signal";
    case ExitKind::kDeadline:
      return "stopped at the deadline";
    case ExitKind::kTerminated:
      return "terminated";
    case ExitKind::kSpawnFailed:
      return "could not be started";
  }
  return "unknown";
}

}  // namespace baton::guardian
