#pragma once

// The record a chaos run leaves in its directory, read back for the checker.
//
// The probes and the driver write it as text, one event a line, a word for the kind and then
// key=value fields (values have no spaces); every time is CLOCK_MONOTONIC nanoseconds:
//   probes.log  start|alive|stop|exit|overlap token=N instance=ID pid=P mono_ns=T
//               (baton-probe, tests/support/probe.cc)
//   faults.log  fault kind=K target=ID mono_ns=T [key=value ...]   (the driver; a queue
//               run's kill-item line has pid=P token=T item=ID tenant=HEX of the command)
//   run.log     run store=S seed=N instances=N ttl_ms=N mono_ns=T [mode=lease|queue]
//                                                                  first line
//               end mono_ns=T                                      last line, when the
//                                                                  run finished
// A queue run (mode=queue: instances are `baton work` workers, ttl_ms their visibility) has
// no probes.log but, instead:
//   items.log     start|overlap|done|term item=ID tenant=HEX attempt=A token=T pid=P
//                 [mono_ns=T] [payload=HEX]   (baton-item-probe, tests/support/item_probe.cc;
//                 a term line has no mono_ns)
//   enqueued.log  enqueue item=ID tenant=HEX ttl_ms=N exit_code=C fail_until=A mono_ns=T
//                   one per id that `baton enqueue` printed; ttl_ms=0: no time-to-live;
//                   exit_code and fail_until are what the item's probe was told (its work
//                   succeeds on an attempt > fail_until when exit_code is 0)
//                 enqueue-failed tenant=HEX count=N mono_ns=T
//                   an enqueue whose outcome is unknown (it may have added items)
//   final-list.json, final-dead.json, final-stats.json
//                 `baton queue list|dead|stats --json` once the workers were drained and stopped
//
// Thread safety: plain values and a free function; any thread may read a record.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace baton::chaos {

// The record cannot be read: a file is missing or a line is not what its writer writes.
class RecordError final : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class ProbeKind {
  kStart,    // The child began (before it takes the lock).
  kAlive,    // The child held the lock and was running.
  kStop,     // SIGTERM ended the child.
  kExit,     // The child ended by itself.
  kOverlap,  // The child found the lock held by another live child.
};

std::string_view Name(ProbeKind kind);

struct ProbeLine {
  ProbeKind kind = ProbeKind::kStart;
  int64_t token = 0;
  std::string instance;
  pid_t pid = -1;
  int64_t mono_ns = 0;
};

// One line of probes.log, as baton-probe writes it. Throws RecordError when it is not one.
ProbeLine ParseProbeLine(std::string_view line);

struct FaultLine {
  std::string kind;  // kill-active, stop-active, pg-restart, ...: the driver's names.
  std::string target;
  int64_t mono_ns = 0;
  std::vector<std::pair<std::string, std::string>> details;  // The other fields, in order.
};

struct RunLine {
  std::string mode = "lease";  // "lease" or "queue".
  std::string store;
  uint64_t seed = 0;
  int instances = 0;
  int64_t ttl_ms = 0;
  int64_t mono_ns = 0;  // When the run started.
};

enum class ItemKind {
  kStart,    // The item's command began (before it takes the tenant's lock).
  kOverlap,  // It found the tenant's lock held by another live command.
  kDone,     // Its work ran to the end (it then exits with what it was told).
  kTerm,     // SIGTERM ended it.
};

std::string_view Name(ItemKind kind);

struct ItemLine {
  ItemKind kind = ItemKind::kStart;
  uint64_t item = 0;
  std::string tenant;  // Hex, as the probe writes it.
  int attempt = 0;
  uint64_t token = 0;  // The claim token.
  pid_t pid = -1;
  std::optional<int64_t> mono_ns;  // Absent on term lines.
};

// One line of items.log. Throws RecordError when it is not one.
ItemLine ParseItemLine(std::string_view line);

struct EnqueuedItem {
  uint64_t item = 0;
  std::string tenant;  // Hex.
  int64_t ttl_ms = 0;  // 0: none.
  int exit_code = 0;
  int fail_until = 0;
  int64_t mono_ns = 0;
  // A fail_until from here on means: fails every attempt (a chaos run's --max-attempts is
  // far below it).
  static constexpr int kFailsAlways = 1000;

  // Whether an attempt of this number that ran to its done line exited 0.
  bool Succeeds(int attempt) const { return exit_code == 0 && attempt > fail_until; }
  // A poison item: exit 65, or failing every attempt; it can only end dead.
  bool NeverSucceeds() const { return exit_code != 0 || fail_until >= kFailsAlways; }
};

struct FailedEnqueue {
  std::string tenant;  // Hex.
  int count = 0;
  int64_t mono_ns = 0;
};

// What the store held once the workers were stopped.
struct FinalState {
  std::vector<std::pair<uint64_t, std::string>> listed;  // `list`: id and state.
  std::vector<uint64_t> dead;                            // `dead`: ids.
  int64_t done_total = 0;
  int64_t dead_total = 0;
  int64_t expired_total = 0;
};

struct QueueRecord {
  std::vector<ItemLine> lines;            // items.log, in the order written.
  std::vector<EnqueuedItem> enqueued;     // In the order written.
  std::vector<FailedEnqueue> failed;      // In the order written.
  std::optional<FinalState> final_state;  // Absent when the run ended before the drain.
};

struct Record {
  std::string dir;
  RunLine run;
  std::optional<int64_t> end_ns;  // The `end` line; absent when the run was cut short.
  std::vector<ProbeLine> probes;  // In the order written.
  std::vector<FaultLine> faults;  // In the order written.
  QueueRecord queue;              // Filled in when run.mode is "queue".

  // When the run ended: the `end` line, else the latest time in the record.
  int64_t EndNs() const;
};

// Reads `dir`. run.log must exist; a missing probes.log or faults.log reads as empty (no
// child started, no fault injected), and so do a queue run's items.log and enqueued.log; its
// final-*.json files are read when all three exist. A last line without its newline is still being
// written and is left out. Throws RecordError naming the file and line of anything else it cannot
// read.
Record ReadRecord(const std::string& dir);

}  // namespace baton::chaos
