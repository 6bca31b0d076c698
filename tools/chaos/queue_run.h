#pragma once

// `baton-chaos --mode queue`: M `baton work` workers on one queue, an enqueuer feeding it,
// faults from a seed, then a drain and the checks of queue_checks.h.
//
// Thread safety: one thread only (the enqueuer has its own, see enqueuer.h).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "faults.h"

namespace baton::chaos {

struct QueueChaosOptions {
  std::string store;  // "sqlite" or "postgresql".
  uint64_t seed = 0;
  std::string dir;           // The record directory, new and empty.
  bool keep_record = false;  // Keep it even when the run passes.
  std::chrono::milliseconds duration{60000};
  std::chrono::milliseconds visibility{1500};
  std::chrono::milliseconds drain_timeout{60000};
  int workers = 3;
  int concurrency = 4;
  int tenants = 8;
  int item_sleep_min_ms = 5;
  int item_sleep_max_ms = 80;
  // Some items work 0.3 to 2.5 s instead (off when the item sleep is set by hand).
  bool slow_items = true;
  int min_each = 1;
  std::vector<FaultKind> kinds;
  bool unsafe_ignore_deadline = false;
  bool intervals = false;
  std::string baton_bin;
  std::string item_bin;
  std::string probe_bin;
  const std::atomic<bool>* interrupted = nullptr;
};

// Runs it, prints the report and the totals line last. 0 when the check passed, 1 when it
// did not (or a fault kind fell short of min_each, or a worker ended by itself), 2 when the
// run could not be set up.
int RunQueueChaos(const QueueChaosOptions& options);

}  // namespace baton::chaos
