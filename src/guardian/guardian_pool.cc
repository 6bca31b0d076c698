#include "guardian/guardian_pool.h"

namespace baton::guardian {

GuardianPool::GuardianPool(SpawnOptions options) : options_(std::move(options)) {}

GuardianPool::~GuardianPool() {
  std::lock_guard lock(mu_);
  idle_.clear();
}

std::shared_ptr<GuardedChild> GuardianPool::TakeIdle() {
  std::lock_guard lock(mu_);
  if (idle_.empty()) return nullptr;
  std::shared_ptr<GuardedChild> guardian = std::move(idle_.back());
  idle_.pop_back();
  return guardian;
}

Result<std::shared_ptr<GuardedChild>> GuardianPool::Start(std::vector<std::string> env,
                                                          TimePoint deadline, Duration grace,
                                                          Stdio stdio) {
  if (std::shared_ptr<GuardedChild> idle = TakeIdle()) {
    // An idle guardian can only have died by someone else's hand (a kill, the OOM
    // killer); a fresh one is then the answer, not an error.
    if (idle->Start(env, deadline, grace, stdio)) return idle;
  }
  SpawnOptions options = options_;
  options.reusable = true;
  auto prepared = GuardedChild::Prepare(options);
  if (!prepared) return prepared.error();
  std::shared_ptr<GuardedChild> fresh = std::move(prepared).value();
  if (auto started = fresh->Start(std::move(env), deadline, grace, stdio); !started) {
    return started.error();
  }
  return fresh;
}

void GuardianPool::Give(std::shared_ptr<GuardedChild> guardian) {
  if (!guardian || !guardian->CanRunAgain()) return;
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(guardian));
}

}  // namespace baton::guardian
