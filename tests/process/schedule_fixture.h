#pragma once

// A fixture for tests that run real `baton schedule` processes (beside `baton work` ones, as
// WorkFixture starts them) on one queue, and read what each round did from their logs.

#include <cstdint>
#include <string>
#include <vector>

#include "work_fixture.h"

namespace baton::process_test {

// One "round ..." line of a scheduler's log.
struct RoundLine {
  std::string scheduler;
  int64_t wall_ms = 0;  // The log line's time: the end of the round.
  std::string how;      // "done", "cut short (...)".
  size_t listed = 0;
  size_t offered = 0;
  size_t skipped = 0;
  size_t invalid = 0;
  double took_ms = 0;
};

// The log's timestamps are wall-clock milliseconds, and a round's offers happen between the
// store's start of the round and its log line; two rounds of one queue are compared with
// this much leeway (see README "baton schedule").
inline constexpr milliseconds kRoundTolerance{250};

class ScheduleTest : public WorkTest {
 protected:
  // `baton schedule` of scheduler `id` on the test's queue, ttl 2s, heartbeat 400ms; `args`
  // add to (or replace) --every 2s and name the source.
  Instance& StartScheduler(const std::string& id, const std::vector<std::string>& args,
                           const std::vector<std::string>& env = {});
  // A tenants file of `ids`, one a line.
  std::string TenantsFile(const std::string& name, const std::vector<std::string>& ids);
  std::vector<RoundLine> Rounds(const std::string& scheduler) const;
  // Waits until `scheduler` has logged `n` rounds.
  bool WaitForRounds(const std::string& scheduler, size_t n, milliseconds timeout);
  // Lines of the scheduler's log that contain `text`.
  std::vector<std::string> LogLines(const std::string& scheduler, const std::string& text) const;
  // The tenants of the queue's items now, by `baton queue list`.
  std::vector<std::string> QueuedTenants();
};

// prefix0 … prefix(n-1).
std::vector<std::string> Tenants(const std::string& prefix, int n);
// Expects every round of `rounds` (any schedulers) at least `every` after the one before, less
// kRoundTolerance; returns the smallest gap in ms.
int64_t CheckRoundsApart(std::vector<RoundLine> rounds, milliseconds every);

// "2026-12-02T05:20:00.123Z ..." as milliseconds since the epoch; 0 when not a log line.
int64_t LogLineMillis(const std::string& line);

}  // namespace baton::process_test
