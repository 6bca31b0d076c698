#pragma once

// The record a chaos run leaves in its directory, read back for the checker.
//
// The probes and the driver write it as text, one event a line, a word for the kind and then
// key=value fields (values have no spaces); every time is CLOCK_MONOTONIC nanoseconds:
//   probes.log  start|alive|stop|exit|overlap token=N instance=ID pid=P mono_ns=T
//               (baton-probe, tests/support/probe.cc)
//   faults.log  fault kind=K target=ID mono_ns=T [key=value ...]   (the driver)
//   run.log     run store=S seed=N instances=N ttl_ms=N mono_ns=T   first line
//               end mono_ns=T                                      last line, when the
//                                                                  run finished
// A new kind of line (SPEC 3's item-start / item-end from per-item work) gets its own struct
// and vector in Record and its own case in the reader; the checks then see it.
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
  std::string store;
  uint64_t seed = 0;
  int instances = 0;
  int64_t ttl_ms = 0;
  int64_t mono_ns = 0;  // When the run started.
};

struct Record {
  std::string dir;
  RunLine run;
  std::optional<int64_t> end_ns;  // The `end` line; absent when the run was cut short.
  std::vector<ProbeLine> probes;  // In the order written.
  std::vector<FaultLine> faults;  // In the order written.

  // When the run ended: the `end` line, else the latest time in the record.
  int64_t EndNs() const;
};

// Reads `dir`. run.log must exist; a missing probes.log or faults.log reads as empty (no
// child started, no fault injected). A last line without its newline is still being written
// and is left out. Throws RecordError naming the file and line of anything else it cannot
// read.
Record ReadRecord(const std::string& dir);

}  // namespace baton::chaos
