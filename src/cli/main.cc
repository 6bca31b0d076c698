// The `baton` program: wraps any command so that exactly one copy in a group is active.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "../guardian/guardian.h"
#include "arguments.h"
#include "commands.h"
#include "store_url.h"

namespace {

using baton::cli::Settings;

void AddTimingOptions(CLI::App* run, Settings& settings) {
  settings.Add(run, "ttl", "Lease time-to-live (default 10s, at least 500ms)");
  settings.Add(run, "heartbeat", "Renew/compete every (default ttl/5, at least 50ms)");
  settings.Add(run, "grace", "SIGTERM this long before the deadline, then SIGKILL (default ttl/5)");
  settings.Add(run, "margin",
               "Stop this long before the lease can expire (default max(ttl/10, 100ms))");
}

// One subcommand: its options and what runs it. `takes_command`: it runs the command given
// after "--".
struct Subcommand {
  CLI::App* app = nullptr;
  Settings settings;
  bool takes_command = false;
  std::function<int(const Settings&, const std::vector<std::string>&)> main;
};

int UsageError(const std::string& message) {
  std::fprintf(stderr, "baton: %s\n", message.c_str());
  return baton::cli::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "__guardian") == 0) {
    return baton::guardian::GuardianMain(argc, argv);
  }
  // CLI11 parses copies; the originals lose their passwords before anything else runs.
  const baton::cli::SplitArguments split =
      baton::cli::SplitAtDoubleDash(std::vector<std::string>(argv, argv + argc));
  baton::cli::BlankPasswordsInArgv(argc, argv);

  CLI::App app{"baton: run one active copy of a service across many servers", "baton"};
  app.set_version_flag("--version", BATON_VERSION);
  app.require_subcommand(1);
  app.footer(
      "\nRun 'baton SUBCOMMAND --help' for a subcommand's options.\n\nExample:\n"
      "  baton run --store sqlite:/var/lib/baton/baton.db --group billing-sync -- ./sync --all\n");

  Subcommand run;
  run.app = app.add_subcommand("run", "Run COMMAND only while this instance is active");
  run.takes_command = true;
  baton::cli::AddCommonOptions(run.app, run.settings);
  AddTimingOptions(run.app, run.settings);
  run.settings.Add(run.app, "on-exit",
                   "When the command exits while active: release (default) or exit");
  run.settings.Add(run.app, "passive-command", "A shell command to run only while passive");
  run.main = baton::cli::RunCommand;
  baton::cli::DescribeSubcommand(
      run.app, {"baton run [OPTIONS] -- COMMAND [ARG...]",
                "baton run --group billing-sync --ttl 10s -- ./billing-sync --all"});

  Subcommand status;
  status.app = app.add_subcommand("status", "Show the group's active instance and members");
  baton::cli::AddCommonOptions(status.app, status.settings);
  status.settings.AddFlag(status.app, "json", "Print one JSON object");
  status.settings.AddFlag(status.app, "watch", "Refresh every second until interrupted");
  status.main = [](const Settings& s, const std::vector<std::string>&) {
    return baton::cli::StatusCommand(s);
  };
  baton::cli::DescribeSubcommand(
      status.app, {"baton status [OPTIONS]", "baton status --group billing-sync --json",
                   /*exit_code_3=*/true});

  Subcommand migrate;
  migrate.app = app.add_subcommand("migrate", "Create or upgrade the store's schema");
  baton::cli::AddCommonOptions(migrate.app, migrate.settings);
  migrate.main = [](const Settings& s, const std::vector<std::string>&) {
    return baton::cli::MigrateCommand(s);
  };
  baton::cli::DescribeSubcommand(
      migrate.app,
      {"baton migrate [OPTIONS]", "baton migrate --store postgresql://baton@db.example/baton"});

  Subcommand* subcommands[] = {&run, &status, &migrate};
  for (Subcommand* sub : subcommands) sub->app->allow_extras();

  const auto known = [&](const std::string& name) {
    for (Subcommand* sub : subcommands) {
      if (sub->app->get_name() == name) return true;
    }
    return false;
  };
  if (split.options.size() >= 2 && split.options[1][0] != '-' && !known(split.options[1])) {
    return UsageError("unknown subcommand \"" + split.options[1] +
                      "\": use run, status or migrate (see baton --help)");
  }
  std::vector<std::string> reversed(split.options.rbegin(), split.options.rend() - 1);
  try {
    app.parse(reversed);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string name;
    for (Subcommand* sub : subcommands) {
      if (sub->app->parsed()) name = sub->app->get_name();
    }
    return UsageError(baton::cli::ExplainParseError(e, name));
  }

  for (Subcommand* sub : subcommands) {
    if (!sub->app->parsed()) continue;
    const std::string name = sub->app->get_name();
    if (const std::vector<std::string> extras = sub->app->remaining(); !extras.empty()) {
      return UsageError(baton::cli::ExplainExtras(name, extras, sub->takes_command));
    }
    if (split.command && !sub->takes_command) {
      return UsageError("baton " + name + " runs no command: drop the -- and what follows it");
    }
    if (auto resolved = sub->settings.Resolve(); !resolved) {
      return baton::cli::ReportError(resolved.error());
    }
    return sub->main(sub->settings, split.command.value_or(std::vector<std::string>{}));
  }
  return baton::cli::kExitUsage;
}
