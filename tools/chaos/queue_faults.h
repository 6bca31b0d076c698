#pragma once

// The faults of a queue chaos run: aimed at `baton work` workers (preferably one with an
// item running, so the fault lands on a claim) and their item commands, plus the store
// faults of the lease runs. Each is recorded in faults.log as it starts, as FaultInjector
// does (faults.h); a kill-item line carries the pid and claim token of the command it
// killed, so the checker knows that command ran until then.
//
// Thread safety: one thread only.

#include <chrono>
#include <fstream>
#include <optional>
#include <random>
#include <string>

#include "faults.h"
#include "item_tail.h"

namespace baton::chaos {

class StoreRig;
class Workers;

class QueueFaultInjector final {
 public:
  QueueFaultInjector(Workers& workers, StoreRig& store, std::chrono::milliseconds visibility,
                     const std::string& record_dir);

  // Injects one fault of `kind` and waits until it is over (a paused worker resumed, a cut
  // healed). False, with nothing done, when it cannot be injected now (no item runs, say).
  // Throws std::runtime_error when the store cannot be restarted.
  bool Inject(FaultKind kind, std::mt19937_64& rng);
  // Sleeps, restarting the workers whose restart is due meanwhile.
  void Sleep(std::chrono::milliseconds how_long);

 private:
  void Record(FaultKind kind, const std::string& target, const std::string& details);
  // A random duration between `low` and `high` times the visibility.
  std::chrono::milliseconds VisibilityTimes(std::mt19937_64& rng, double low, double high) const;
  // A live worker, one that runs an item when there is such a worker (`busy_only`: only
  // such a worker).
  std::optional<std::string> PickWorker(std::mt19937_64& rng, bool busy_only);

  Workers& workers_;
  StoreRig& store_;
  std::chrono::milliseconds visibility_;
  ItemTail items_;
  std::ofstream log_;
};

}  // namespace baton::chaos
