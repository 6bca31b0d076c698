// `baton queue`'s options.
#include "commands.h"
#include "subcommand.h"

namespace baton::cli {

std::unique_ptr<Subcommand> DeclareQueue(CLI::App& app) {
  auto queue = std::make_unique<Subcommand>();
  CLI::App* a = queue->app = app.add_subcommand("queue", "Show or administer a queue");
  Settings& s = queue->settings;
  queue->takes_arguments = true;
  AddCommonOptions(a, s);
  s.Add(a, "queue", "The queue, within the group (required)");
  s.AddFlag(a, "json", "Print JSON");
  s.Add(a, "state",
        "list: only items in this state (pending, running, cancelled, dead; default all)");
  s.Add(a, "limit", "list, dead: at most this many items (default 100)", OptionKind::kCount);
  s.AddFlag(a, "all-dead", "requeue: every dead item");
  queue->main = QueueCommand;
  DescribeSubcommand(
      a,
      {"baton queue [OPTIONS] --queue Q (stats | list [--state S] | dead | requeue ID|--all-dead "
       "| cancel ID | purge | pause | resume)",
       "baton queue --group billing --queue tenant-sync stats --json"});
  return queue;
}

}  // namespace baton::cli
