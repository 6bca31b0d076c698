#pragma once

// A fixture for tests that run real `baton work` processes on one queue, each running
// baton-item-probe per item. The probes share one lock directory (a flock per tenant) and one
// log, so the kernel and the log tell whether a tenant ever ran twice at once and which
// item's work ran to its end.

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "group_fixture.h"

namespace baton::process_test {

// One line of the item probe's log.
struct ItemEvent {
  std::string kind;  // start, overlap, done, term.
  uint64_t item = 0;
  std::string tenant;  // Decoded from hex.
  int attempt = 0;
  uint64_t token = 0;
  pid_t pid = -1;
  int64_t mono_ns = 0;  // 0 on term lines.
  std::string payload;  // start lines.
};

inline constexpr milliseconds kVisibility{2000};

// The helpers, on whatever store the test picks (UseStore).
class WorkFixture : public BatonGroupTest {
 protected:
  WorkFixture();

  // `baton work` of worker `id` running the probe with `probe_args`; `work_args` go before
  // "--" (the defaults: visibility 2s, short backoff).
  Instance& StartWorker(const std::string& id, const std::vector<std::string>& work_args = {},
                        const std::vector<std::string>& probe_args = {},
                        const std::vector<std::string>& env = {});
  // `baton enqueue` of `keys` (through a keys file); the new ids, in order. Fails the test
  // when it does not exit 0.
  std::vector<uint64_t> Enqueue(const std::vector<std::string>& keys,
                                const std::vector<std::string>& args = {});
  // `baton queue ACTION... --json`, parsed.
  nlohmann::json QueueJson(const std::vector<std::string>& action);
  int64_t DoneTotal();
  // On a queue with nothing done yet: enqueues `dead` and has a worker whose command exits
  // with code 3 dead-letter them (one attempt each), then enqueues `done` and has another
  // worker finish them.
  void DeadAndDone(const std::vector<std::string>& dead, const std::vector<std::string>& done);

  std::vector<ItemEvent> ItemEvents(const std::string& kind = "") const;
  // Waits until the probe log has a line of `kind` for `item` (and attempt, when given).
  std::optional<ItemEvent> WaitForItem(const std::string& kind, uint64_t item, milliseconds timeout,
                                       int attempt = 0);
  // The "claimed item N of tenant T" lines of a worker's log, (item, tenant), in the order of
  // their claim tokens: the order the store served them in. The lines' own order may differ
  // when claims run side by side (PostgreSQL), each logging when its reply comes back.
  std::vector<std::pair<uint64_t, std::string>> Claims(const std::string& worker) const;

  std::string queue_ = "jobs";
  const std::string locks_dir_;
  const std::string item_log_;
};

// WorkFixture on the store of StoreUnderTest().
class WorkTest : public WorkFixture, public ::testing::WithParamInterface<StoreKind> {
 protected:
  void SetUp() override {
    WorkFixture::SetUp();
    GetParam().set_up(*this);
  }
};

}  // namespace baton::process_test
