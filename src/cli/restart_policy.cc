#include "restart_policy.h"

#include <algorithm>
#include <cstring>

namespace baton::cli {
namespace {

constexpr Duration kShortLife = std::chrono::seconds(60);
constexpr Duration kFirstHoldOff = std::chrono::seconds(1);
constexpr Duration kMaxHoldOff = std::chrono::seconds(60);

}  // namespace

ChildExitAction RestartPolicy::OnActiveChildExit(const guardian::ChildExit& exit, Duration lived,
                                                 bool current) {
  ChildExitAction action;
  if (!current) return action;
  if (exit.kind == guardian::ExitKind::kDeadline || exit.kind == guardian::ExitKind::kTerminated) {
    // Stopped by us or by the guardian. If a renewal raced the deadline, the lease is still
    // ours but its work is gone: start over with a new token, at once.
    action.kind = ChildExitAction::Kind::kGiveUp;
    action.why = exit.kind == guardian::ExitKind::kDeadline
                     ? "its command was stopped at the deadline"
                     : "its command was stopped";
    return action;
  }
  if (exit_with_child_) {
    action.kind = ChildExitAction::Kind::kExit;
    action.exit_code = ExitCodeOf(exit);
    return action;
  }
  short_lives_ = lived < kShortLife ? short_lives_ + 1 : 0;
  action.kind = ChildExitAction::Kind::kGiveUp;
  action.why = "the command ended";
  action.hold_off = short_lives_ == 0
                        ? heartbeat_
                        : std::min<Duration>(
                              kFirstHoldOff * (1LL << std::min(short_lives_ - 1, 10)), kMaxHoldOff);
  return action;
}

int ExitCodeOf(const guardian::ChildExit& exit) {
  if (exit.kind == guardian::ExitKind::kExited) return exit.code;
  if (exit.kind == guardian::ExitKind::kSpawnFailed) return 127;
  return 128 + exit.signal;
}

std::string Describe(const guardian::ChildExit& exit) {
  switch (exit.kind) {
    case guardian::ExitKind::kExited:
      return "exited with code " + std::to_string(exit.code);
    case guardian::ExitKind::kSignaled:
      return "was killed by signal " + std::to_string(exit.signal);
    case guardian::ExitKind::kSpawnFailed:
      return std::string("could not be started: ") + std::strerror(exit.code);
    default:
      return guardian::ToString(exit.kind);
  }
}

}  // namespace baton::cli
