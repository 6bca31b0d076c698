#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/loop_observer.h"
#include "systemd/notifier.h"

namespace baton::cli {

// The systemd notifier of one `run`, `work`, `schedule` or `serve` process, from the
// environment systemd gives it (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID); does nothing
// when that has no NOTIFY_SOCKET. See systemd::Notifier.
//
// Thread safety: as systemd::Notifier.
class ServiceNotifier final {
 public:
  // `store_url`'s password, should an error message quote it, never reaches STATUS=.
  explicit ServiceNotifier(const std::string& store_url);
  ~ServiceNotifier();

  // An observer for one loop of baton's; `name` tells the loops of `serve` apart
  // ("run.billing"). Lives as long as this object.
  LoopObserver* AddLoop(const std::string& name = "");
  void Start() { notifier_->Start(); }
  // The store cannot be reached yet (OpenWithRetry).
  void StoreUnreachable(const Error& error) { notifier_->SetStatusError(error); }
  void Stopping() { notifier_->Stopping(); }

 private:
  class Stall;

  std::unique_ptr<systemd::Notifier> notifier_;
  // Tests only (BATON_TEST_STALL_LOOP_AFTER): how long after start every loop blocks.
  std::optional<Duration> stall_after_;
  TimePoint started_;
  std::vector<std::unique_ptr<Stall>> stalls_;
};

}  // namespace baton::cli
