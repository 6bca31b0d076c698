#pragma once

// Judges a chaos run from its record (record.h): the safety violations that fail it, and
// the numbers that say how well the group kept going (leadership changes, availability,
// failover gaps, faults injected).
//
// The checks are a list of functions over the parsed record and the active intervals
// (kChecks in checker.cc); each has a name that counts its violations in the totals line.
// A queue run (record.run.mode "queue") is judged by SPEC 3's checks instead
// (queue_checks.h): a tenant processed twice at once, an item lost, an acknowledged item
// whose work never ran to its end, claim tokens that do not grow.
//
// Thread safety: plain values and free functions; any thread may call them.

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "record.h"

namespace baton::chaos {

// One child's active life, as its probe logged it.
struct Interval {
  std::string instance;
  int64_t token = 0;
  pid_t pid = -1;
  int64_t start_ns = 0;  // Its start line: a little after the child really began.
  // Its stop or exit line when end_exact; else its last alive line, else its start. Either
  // way the child was still running then, so an overlap found with this end is real.
  int64_t end_ns = 0;
  bool end_exact = false;
  ProbeKind end_kind = ProbeKind::kStart;  // The line end_ns comes from.
};

// The active intervals of the record, ordered by start (then pid). A pid's start line opens
// an interval that its stop or exit line closes; a start for a pid whose interval is still
// open (the kernel reused the pid of a killed child) opens a new one. Throws RecordError on a
// line of a pid with no interval open.
std::vector<Interval> ActiveIntervals(const Record& record);

// One item command's life in a queue run, as its probe logged it.
struct ItemInterval {
  uint64_t item = 0;
  std::string tenant;  // Hex.
  int attempt = 0;
  uint64_t token = 0;  // The claim token.
  pid_t pid = -1;
  int64_t start_ns = 0;  // Its start line: a little after the command began.
  // A time the command was still running at: its done or overlap line, else the SIGKILL the
  // driver sent it, else its start (a term line has no time; the guardian's kill at the
  // deadline leaves no line). So an overlap found with this end is real.
  int64_t end_ns = 0;
  std::string end_kind = "start";  // What end_ns comes from: done, overlap, kill or start.
  bool terminated = false;         // It wrote a term line.
};

// Where every item of a queue run ended, by the record (queue_checks.h says how each is told).
struct QueueAccount {
  int items = 0;  // Ids that `baton enqueue` printed.
  int acknowledged = 0;
  int dead = 0;
  int dead_poison = 0;  // Of the dead, items whose work was told never to succeed.
  // The other dead: their attempts ran out through faults (not a violation, but worth a look).
  std::vector<uint64_t> dead_could_succeed;
  int expired = 0;
  int in_queue = 0;  // Still pending or running after the drain.
  int lost = 0;      // Gone without acknowledgement, dead letter or expiry (violations).
  int attempts = 0;  // Start lines.
  int done_lines = 0;
  int unknown = 0;          // Items in the record that no enqueue printed.
  int failed_enqueues = 0;  // Enqueues whose outcome is unknown.
};

struct Violation {
  std::string check;  // The name of the check that found it: "overlaps", "token-errors", ...
  int64_t mono_ns = 0;
  std::string message;  // One sentence naming instances, tokens, pids and times.
};

struct Failovers {
  int count = 0;  // Consecutive pairs of intervals.
  // Gaps from one interval's end to the next one's start, nearest-rank percentiles; an
  // overlap (a violation anyway) counts as a gap of zero.
  int64_t p50_ns = 0;
  int64_t p99_ns = 0;
  int64_t max_ns = 0;
};

struct CheckResult {
  std::string dir;
  std::string error;  // Non-empty: the record could not be read; nothing else is filled in.

  RunLine run;
  bool end_seen = false;  // Whether run.log has its end line.
  int64_t end_ns = 0;     // Record::EndNs().
  int faults = 0;
  std::map<std::string, int> faults_by_kind;

  std::vector<Interval> intervals;
  // Intervals after the first that started before the run's end (the shutdown after the end
  // line hands over too, and is checked for safety but not counted as a fault's effect).
  int leadership_changes = 0;
  double availability = 0;  // Share of [first start, end_ns] with an interval open.
  std::optional<Failovers> failovers;

  // Queue runs only.
  std::vector<ItemInterval> item_intervals;  // Ordered by start.
  std::optional<QueueAccount> account;       // Set for a queue run.

  std::vector<Violation> violations;  // Ordered by time.
  // Every check's name with its number of violations, zeros included, in check order.
  std::vector<std::pair<std::string, int>> counts;

  bool readable() const { return error.empty(); }
  bool passed() const { return readable() && violations.empty(); }
};

// Reads and judges the record in `dir`. Never throws: an unreadable record comes back with
// `error` set (and passed() false).
CheckResult CheckRecord(const std::string& dir);
// Judges a record already read. Throws RecordError when its probe lines do not make
// intervals (see ActiveIntervals).
CheckResult CheckRecord(const Record& record);

// A few lines: the run, faults by kind, intervals, availability, failovers and every
// violation (or the reason the record is unreadable). Not the totals line.
void PrintReport(const CheckResult& result, std::ostream& out);
// One line per interval, for a post-mortem.
void PrintIntervals(const CheckResult& result, std::ostream& out);
// "totals: store=... seed=... ...: PASS" (or FAIL), the line a script greps.
std::string TotalsLine(const CheckResult& result);

}  // namespace baton::chaos
