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
  // Arguments before "--" that are not options are the subcommand's own (enqueue's keys,
  // queue's action), passed to `main` ahead of what follows "--".
  bool takes_arguments = false;
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

  Subcommand work;
  work.app = app.add_subcommand("work", "Claim items of a queue and run COMMAND once per item");
  work.takes_command = true;
  baton::cli::AddCommonOptions(work.app, work.settings);
  work.settings.Add(work.app, "queue", "The queue (within the group) to work on");
  work.settings.Add(work.app, "concurrency", "Items run at once by this process (default 1)");
  work.settings.Add(work.app, "visibility",
                    "How long a claim lasts unless extended; extended every visibility/3 "
                    "(default 30s)");
  work.settings.Add(work.app, "timeout", "Bound on one attempt (default 30m)");
  work.settings.Add(work.app, "grace",
                    "SIGTERM this long before the claim's deadline, then SIGKILL (default "
                    "visibility/5)");
  work.settings.Add(work.app, "margin",
                    "Stop this long before the claim can expire (default max(visibility/10, "
                    "100ms))");
  work.settings.Add(work.app, "max-attempts", "Attempts before an item is dead (default 5)");
  work.settings.Add(work.app, "backoff", "First retry delay, doubling (default 1s)");
  work.settings.Add(work.app, "backoff-max", "Longest retry delay (default 10m)");
  work.settings.Add(work.app, "poll", "Longest wait between claims when idle (default 1s)");
  work.main = baton::cli::WorkCommand;
  baton::cli::DescribeSubcommand(
      work.app,
      {"baton work [OPTIONS] --queue Q -- COMMAND [ARG...]",
       "baton work --group billing --queue tenant-sync --concurrency 4 -- ./sync-tenant"});

  Subcommand enqueue;
  enqueue.app = app.add_subcommand("enqueue", "Add one item per KEY (a tenant id) to a queue");
  enqueue.takes_command = true;
  enqueue.takes_arguments = true;
  baton::cli::AddCommonOptions(enqueue.app, enqueue.settings);
  enqueue.settings.Add(enqueue.app, "queue", "The queue (within the group)");
  enqueue.settings.AddFlag(enqueue.app, "unique",
                           "Skip a key that has a pending, waiting or running item already");
  enqueue.settings.Add(enqueue.app, "item-ttl",
                       "Drop the item unprocessed if never claimed within this long");
  enqueue.settings.Add(enqueue.app, "item-priority", "Order within the tenant (higher first)");
  enqueue.settings.Add(enqueue.app, "delay", "Claimable only this long from now");
  enqueue.settings.Add(enqueue.app, "payload-file",
                       "The payload of every item (the work's standard input); - for stdin");
  enqueue.settings.Add(enqueue.app, "keys-file", "More keys, one a line (# comments)");
  enqueue.main = baton::cli::EnqueueCommand;
  baton::cli::DescribeSubcommand(enqueue.app,
                                 {"baton enqueue [OPTIONS] --queue Q [--] KEY...",
                                  "baton enqueue --group billing --queue tenant-sync -- acme "
                                  "globex"});

  Subcommand queue;
  queue.app = app.add_subcommand("queue", "Show or administer a queue");
  queue.takes_arguments = true;
  baton::cli::AddCommonOptions(queue.app, queue.settings);
  queue.settings.Add(queue.app, "queue", "The queue (within the group)");
  queue.settings.AddFlag(queue.app, "json", "Print JSON");
  queue.settings.Add(queue.app, "state",
                     "list: only items in this state (pending, running, "
                     "cancelled, dead)");
  queue.settings.Add(queue.app, "limit", "list, dead: at most this many items (default 100)");
  queue.settings.AddFlag(queue.app, "all-dead", "requeue: every dead item");
  queue.main = baton::cli::QueueCommand;
  baton::cli::DescribeSubcommand(
      queue.app,
      {"baton queue [OPTIONS] --queue Q (stats | list [--state S] | dead | requeue ID|--all-dead "
       "| cancel ID | purge | pause | resume)",
       "baton queue --group billing --queue tenant-sync stats --json"});

  Subcommand* subcommands[] = {&run, &work, &enqueue, &queue, &status, &migrate};
  for (Subcommand* sub : subcommands) sub->app->allow_extras();

  const auto known = [&](const std::string& name) {
    for (Subcommand* sub : subcommands) {
      if (sub->app->get_name() == name) return true;
    }
    return false;
  };
  if (split.options.size() >= 2 && split.options[1][0] != '-' && !known(split.options[1])) {
    return UsageError("unknown subcommand \"" + split.options[1] +
                      "\": use run, work, enqueue, queue, status or migrate (see baton --help)");
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
    std::vector<std::string> arguments;
    const std::vector<std::string> extras = sub->app->remaining();
    if (!sub->takes_arguments && !extras.empty()) {
      return UsageError(baton::cli::ExplainExtras(name, extras, sub->takes_command));
    }
    for (const std::string& extra : extras) {
      if (!extra.empty() && extra[0] == '-') {
        return UsageError(baton::cli::ExplainExtras(name, {extra}, sub->takes_command));
      }
      arguments.push_back(extra);
    }
    if (split.command && !sub->takes_command) {
      return UsageError("baton " + name + " runs no command: drop the -- and what follows it");
    }
    if (auto resolved = sub->settings.Resolve(); !resolved) {
      return baton::cli::ReportError(resolved.error());
    }
    for (const std::string& arg : split.command.value_or(std::vector<std::string>{})) {
      arguments.push_back(arg);
    }
    return sub->main(sub->settings, arguments);
  }
  return baton::cli::kExitUsage;
}
