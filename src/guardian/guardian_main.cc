// The guardian process: `baton __guardian --control-fd=N -- COMMAND [ARG...]`.

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "guardian/guardian.h"
#include "guardian/protocol.h"
#include "guardian/supervisor.h"

namespace baton::guardian {
namespace detail {
namespace {

constexpr std::string_view kUsage =
    "baton __guardian is started by baton itself: "
    "baton __guardian --control-fd=N [--reusable] -- COMMAND [ARG...]\n";

struct GuardianArgs {
  int control_fd = -1;
  bool reusable = false;
  std::vector<std::string> command;
};

// stderr is baton's own; these few lines are written before the child starts or when the
// guardian cannot run at all, never from the supervision loop.
void WriteStderr(std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = write(STDERR_FILENO, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    text.remove_prefix(static_cast<size_t>(n));
  }
}

bool ParseArgs(int argc, char** argv, GuardianArgs* args) {
  int i = 1;
  if (i < argc && std::string_view(argv[i]) == "__guardian") ++i;
  constexpr std::string_view kFdFlag = "--control-fd=";
  for (; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--") {
      ++i;
      break;
    }
    if (arg == "--reusable") {
      args->reusable = true;
      continue;
    }
    if (arg.substr(0, kFdFlag.size()) != kFdFlag) return false;
    char* end = nullptr;
    const long fd = std::strtol(argv[i] + kFdFlag.size(), &end, 10);
    if (*end != '\0' || fd <= STDERR_FILENO || fd > 1'000'000) return false;
    args->control_fd = static_cast<int>(fd);
  }
  for (; i < argc; ++i) args->command.emplace_back(argv[i]);
  return args->control_fd >= 0 && !args->command.empty() && fcntl(args->control_fd, F_GETFD) >= 0;
}

// Nothing baton left open (by mistake or by another thread's timing) may reach the child:
// a stray copy of baton's store connection or of a locked file would outlive baton there.
// REQUIRES: keep > STDERR_FILENO.
void CloseStrayDescriptors(int keep) {
  const auto first = static_cast<unsigned int>(STDERR_FILENO + 1);
  const auto kept = static_cast<unsigned int>(keep);
  if (kept > first) close_range(first, kept - 1, 0);
  close_range(kept + 1, ~0u, 0);
  fcntl(keep, F_SETFD, FD_CLOEXEC);
}

bool DeadlineIgnored() {
  const char* value = std::getenv("BATON_UNSAFE_IGNORE_DEADLINE");
  return value != nullptr && std::string_view(value) == "1";
}

}  // namespace
}  // namespace detail

int GuardianMain(int argc, char** argv) {
  detail::GuardianArgs args;
  if (!detail::ParseArgs(argc, argv, &args)) {
    detail::WriteStderr(detail::kUsage);
    return 2;
  }
  const bool enforce_deadline = !detail::DeadlineIgnored();
  if (!enforce_deadline) {
    detail::WriteStderr(
        "baton guardian: WARNING: BATON_UNSAFE_IGNORE_DEADLINE=1: the deadline is NOT "
        "enforced; a child may outlive its lease (for tests only)\n");
  }
  // Its own session: signals aimed at baton's process group or terminal (Ctrl-C) reach
  // neither the guardian nor the child; baton passes them on itself.
  setsid();
  // Orphaned descendants (double fork, setsid) are reparented here, not to init, so they
  // can still be found and killed.
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  // Started through /proc/self/exe, it would otherwise be called "exe" in top and ps -o comm.
  prctl(PR_SET_NAME, "baton-guardian");
  detail::CloseStrayDescriptors(args.control_fd);
  signal(SIGPIPE, SIG_IGN);
  const sigset_t handled = detail::HandledSignals();
  sigprocmask(SIG_BLOCK, &handled, nullptr);

  detail::Supervisor supervisor(args.control_fd, enforce_deadline, args.reusable);
  return supervisor.Run(args.command);
}

}  // namespace baton::guardian
