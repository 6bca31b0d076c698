#pragma once

#include <memory>
#include <mutex>
#include <vector>

#include "guardian/guardian.h"

namespace baton::guardian {

// Reusable guardians for one command, kept between runs so that a run costs a fork and
// the command's exec, not also an exec of baton (which, with baton's libraries, is most
// of a short command's cost). Every run keeps all of a guardian's guarantees: its own
// deadline, and its child and every descendant gone before its exit is reported.
//
// Thread-safe. At most as many guardians live as runs have been in flight at once.
class GuardianPool final {
 public:
  // `options.argv` and `options.guardian_exe` are used; the rest is per run.
  explicit GuardianPool(SpawnOptions options);
  // Closes the idle guardians' sockets: each exits at once. Blocks until they have.
  ~GuardianPool();
  GuardianPool(const GuardianPool&) = delete;
  GuardianPool& operator=(const GuardianPool&) = delete;

  // Starts a run on an idle guardian, or on a new one when none is idle or the idle one
  // has died meanwhile. Errors as GuardedChild::Prepare() and Start().
  Result<std::shared_ptr<GuardedChild>> Start(std::vector<std::string> env, TimePoint deadline,
                                              Duration grace, Stdio stdio);
  // Gives a guardian back once its run's Wait() has returned; one that cannot run again is
  // dropped (and reaped). REQUIRES: the caller holds no other reference to it.
  void Give(std::shared_ptr<GuardedChild> guardian);

 private:
  std::shared_ptr<GuardedChild> TakeIdle();

  const SpawnOptions options_;
  std::mutex mu_;
  std::vector<std::shared_ptr<GuardedChild>> idle_;
};

}  // namespace baton::guardian
