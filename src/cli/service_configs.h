#pragma once

// What `baton run`, `baton work` and `baton schedule` build from their Settings, and the loop
// of `baton run` once its store is open: the subcommands and `baton serve` (one table per
// hosted service) call the same functions, so a table and a command line are checked alike.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "baton/elector.h"
#include "baton/scheduler.h"
#include "baton/store.h"
#include "baton/timing.h"
#include "baton/worker.h"
#include "child_supervisor.h"
#include "common.h"
#include "event_queue.h"
#include "settings.h"
#include "store_url.h"

namespace baton::cli {

struct RunConfig {
  Common common;
  Timing timing;
  bool exit_with_child = false;
  std::optional<std::string> passive_command;
  int64_t priority = 0;  // --priority: asks a holder of lower priority to hand over.
  std::vector<std::string> command;
};
// `need_command`: false for `baton config check run`, which may be given no command; an
// empty `command` is then not checked.
Result<RunConfig> ResolveRunConfig(const Settings& settings,
                                   const std::vector<std::string>& command,
                                   bool need_command = true);
// --ttl, --heartbeat, --grace and --margin of `baton run`, checked by the timing rule.
Result<Timing> ResolveRunTiming(const Settings& settings);

// `baton run`'s elected loop on an open store: competes as `self`, runs the command while
// active, and ends after a kSignal event on `events` (pushed by whoever takes the signals) or
// when the command exits under --on-exit exit. `observer`, if any, follows the elector's
// loop (systemd); `sink`, if any, is told of its events (metrics). Returns the exit code.
int RunElected(const RunConfig& config, Store& store, const MemberInfo& self,
               EventQueue<RunEvent>& events, LoopObserver* observer = nullptr,
               EventSink* sink = nullptr);

struct WorkConfig {
  Common common;
  WorkerOptions worker;
  std::vector<std::string> command;
};
Result<WorkConfig> ResolveWorkConfig(const Settings& settings,
                                     const std::vector<std::string>& command,
                                     bool need_command = true);
// --visibility, --grace and --margin of `baton work`, not yet checked by the claim rule.
Result<ClaimTimingOptions> ReadClaimTiming(const Settings& settings);

enum class SourceKind { kFile, kCommand, kSql };

struct ScheduleConfig {
  Common common;
  TimingOptions timing;
  Timing resolved;
  SchedulerOptions scheduler;
  SourceKind kind = SourceKind::kFile;
  std::string source;                // The file, or the SQL.
  std::vector<std::string> command;  // --tenants-command as words.
  Duration tenants_timeout{0};
};
Result<ScheduleConfig> ResolveScheduleConfig(const Settings& settings);
// --ttl and --heartbeat of the scheduler lease, not yet checked by the timing rule.
Result<TimingOptions> ReadLeaseTiming(const Settings& settings);
Result<std::unique_ptr<TenantSource>> OpenSource(const ScheduleConfig& config,
                                                 const OpenOptions& open);
// Warns of the test-only switches the scheduler was given.
void WarnUnsafe(const SchedulerOptions& options);

}  // namespace baton::cli
