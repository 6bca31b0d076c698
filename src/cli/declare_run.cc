// `baton run`'s options.
#include "commands.h"
#include "subcommand.h"

namespace baton::cli {

std::unique_ptr<Subcommand> DeclareRun(CLI::App& app) {
  auto run = std::make_unique<Subcommand>();
  run->app = app.add_subcommand("run", "Run COMMAND only while this instance is active");
  run->takes_command = true;
  AddCommonOptions(run->app, run->settings);
  AddMetricsOption(run->app, run->settings);
  AddLeaseTimingOptions(run->app, run->settings);
  run->settings.Add(run->app, "grace",
                    "SIGTERM this long before the deadline, then SIGKILL (default ttl/5)",
                    OptionKind::kDuration);
  run->settings.Add(run->app, "margin",
                    "Stop this long before the lease can expire (default max(ttl/10, 100ms))",
                    OptionKind::kDuration);
  run->settings.Add(run->app, "on-exit",
                    "When the command exits while active: release (default) or exit");
  run->settings.Add(run->app, "priority",
                    "Preference for the active role, 0 to 1000000: joining a group whose active "
                    "instance has a lower one, ask it to hand over (default 0: never ask)",
                    OptionKind::kInteger);
  run->settings.Add(run->app, "passive-command",
                    "A shell command to run only while passive (default none)");
  run->main = RunCommand;
  DescribeSubcommand(run->app,
                     {"baton run [OPTIONS] -- COMMAND [ARG...]",
                      "baton run --group billing-sync --ttl 10s -- ./billing-sync --all"});
  return run;
}

}  // namespace baton::cli
