// The `baton` program: wraps any command so that exactly one copy in a group is active.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../guardian/guardian.h"
#include "commands.h"
#include "store_url.h"

namespace {

using baton::cli::Settings;

void AddTimingOptions(CLI::App* run, Settings& settings) {
  settings.Add(run, "ttl", "Lease time-to-live (default 10s)");
  settings.Add(run, "heartbeat", "Renew/compete every (default ttl/5)");
  settings.Add(run, "grace", "SIGTERM this long before the deadline, then SIGKILL (default ttl/5)");
  settings.Add(run, "margin",
               "Stop this long before the lease can expire (default max(ttl/10, 100ms))");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "__guardian") == 0) {
    return baton::guardian::GuardianMain(argc, argv);
  }
  // CLI11 parses copies; the originals lose their passwords before anything else runs.
  std::vector<std::string> copies(argv, argv + argc);
  std::vector<char*> args;
  for (auto& a : copies) args.push_back(a.data());
  baton::cli::BlankPasswordsInArgv(argc, argv);

  CLI::App app{"baton: run one active copy of a service across many servers"};
  app.set_version_flag("--version", BATON_VERSION);
  app.require_subcommand(1);

  Settings run_settings;
  std::vector<std::string> command;
  CLI::App* run = app.add_subcommand("run", "Run COMMAND only while this instance is active");
  baton::cli::AddCommonOptions(run, run_settings);
  AddTimingOptions(run, run_settings);
  run_settings.Add(run, "on-exit",
                   "When the command exits while active: release (default) or exit");
  run_settings.Add(run, "passive-command", "A shell command to run only while passive");
  run->add_option("command", command, "The command and its arguments, after --");

  Settings status_settings;
  CLI::App* status = app.add_subcommand("status", "Show the group's active instance and members");
  baton::cli::AddCommonOptions(status, status_settings);
  status_settings.AddFlag(status, "json", "Print one JSON object");
  status_settings.AddFlag(status, "watch", "Refresh every second until interrupted");

  Settings migrate_settings;
  CLI::App* migrate = app.add_subcommand("migrate", "Create or upgrade the store's schema");
  baton::cli::AddCommonOptions(migrate, migrate_settings);

  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "baton: %s\nRun 'baton --help' or 'baton SUBCOMMAND --help'.\n", e.what());
    return baton::cli::kExitUsage;
  }

  struct Sub {
    CLI::App* app;
    Settings* settings;
  };
  for (const Sub& sub :
       {Sub{run, &run_settings}, Sub{status, &status_settings}, Sub{migrate, &migrate_settings}}) {
    if (!sub.app->parsed()) continue;
    if (auto resolved = sub.settings->Resolve(); !resolved) {
      return baton::cli::ReportError(resolved.error());
    }
    if (sub.app == run) return baton::cli::RunCommand(run_settings, command);
    if (sub.app == status) return baton::cli::StatusCommand(status_settings);
    return baton::cli::MigrateCommand(migrate_settings);
  }
  return baton::cli::kExitUsage;
}
