#pragma once

#include <string>

#include "../guardian/guardian.h"
#include "baton/clock.h"

namespace baton::cli {

// What `baton run` does when its active command ends, apart from the event loop that
// carries it out (RunElected), so the policy can be read and tested on its own.
struct ChildExitAction {
  enum class Kind {
    kNothing,  // Not this interval's command, or already handled.
    kGiveUp,   // Give the lease up and hold off `hold_off` before competing again.
    kExit,     // --on-exit exit: stop baton with `exit_code`.
  };
  Kind kind = Kind::kNothing;
  Duration hold_off{0};
  int exit_code = 0;
  std::string why;  // For the elector's log line.
};

// Counts commands that die young: a command that ends sooner than a minute after it started
// holds the instance off for 1 s, 2 s, 4 s … up to 60 s before it competes again, so a
// command that cannot start does not take the lease from instances where it can. After a
// long life the hold-off is one heartbeat, which gives another instance the first chance.
//
// Thread-compatible.
class RestartPolicy final {
 public:
  RestartPolicy(Duration heartbeat, bool exit_with_child)
      : heartbeat_(heartbeat), exit_with_child_(exit_with_child) {}

  // `current`: the command ran under the interval the elector still holds (its token).
  ChildExitAction OnActiveChildExit(const guardian::ChildExit& exit, Duration lived, bool current);

 private:
  const Duration heartbeat_;
  const bool exit_with_child_;
  int short_lives_ = 0;
};

// The shell's convention: the code, 128 + the signal, or 127 when it could not start.
int ExitCodeOf(const guardian::ChildExit& exit);
// How a child ended, in words that follow "the command X ".
std::string Describe(const guardian::ChildExit& exit);

}  // namespace baton::cli
