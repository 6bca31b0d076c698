// `baton work`'s options.
#include "commands.h"
#include "subcommand.h"

namespace baton::cli {

std::unique_ptr<Subcommand> DeclareWork(CLI::App& app) {
  auto work = std::make_unique<Subcommand>();
  CLI::App* a = work->app =
      app.add_subcommand("work", "Claim items of a queue and run COMMAND once per item");
  Settings& s = work->settings;
  work->takes_command = true;
  AddCommonOptions(a, s);
  AddMetricsOption(a, s);
  s.Add(a, "queue", "The queue (within the group) to work on (required)");
  s.Add(a, "concurrency", "Items run at once by this process (default 1)", OptionKind::kCount);
  s.Add(a, "visibility",
        "How long a claim lasts unless extended; extended every visibility/3 (default 30s)",
        OptionKind::kDuration);
  s.Add(a, "timeout", "Bound on one attempt (default 30m)", OptionKind::kDuration);
  s.Add(a, "grace",
        "SIGTERM this long before the claim's deadline, then SIGKILL (default visibility/5)",
        OptionKind::kDuration);
  s.Add(a, "margin",
        "Stop this long before the claim can expire (default max(visibility/10, 100ms))",
        OptionKind::kDuration);
  s.Add(a, "max-attempts", "Attempts before an item is dead (default 5)", OptionKind::kCount);
  s.Add(a, "backoff", "First retry delay, doubling (default 1s)", OptionKind::kDuration);
  s.Add(a, "backoff-max", "Longest retry delay (default 10m)", OptionKind::kDuration);
  s.Add(a, "poll", "Longest wait between claims when idle (default 1s)", OptionKind::kDuration);
  work->main = WorkCommand;
  DescribeSubcommand(
      a, {"baton work [OPTIONS] --queue Q -- COMMAND [ARG...]",
          "baton work --group billing --queue tenant-sync --concurrency 4 -- ./sync-tenant"});
  return work;
}

}  // namespace baton::cli
