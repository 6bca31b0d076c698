// `baton enqueue`'s options.
#include "commands.h"
#include "subcommand.h"

namespace baton::cli {

std::unique_ptr<Subcommand> DeclareEnqueue(CLI::App& app) {
  auto enqueue = std::make_unique<Subcommand>();
  CLI::App* a = enqueue->app =
      app.add_subcommand("enqueue", "Add one item per KEY (a tenant id) to a queue");
  Settings& s = enqueue->settings;
  enqueue->takes_command = true;
  enqueue->takes_arguments = true;
  AddCommonOptions(a, s);
  s.Add(a, "queue", "The queue, within the group (required)");
  s.AddFlag(a, "unique", "Skip a key that has a pending, waiting or running item already");
  s.Add(a, "item-ttl",
        "Drop the item unprocessed if never claimed within this long (default none: kept)",
        OptionKind::kDuration);
  s.Add(a, "item-priority", "Order within the tenant, higher first (default 0)",
        OptionKind::kInteger);
  s.Add(a, "delay", "Claimable only this long from now (default none: at once)",
        OptionKind::kDuration);
  s.Add(a, "payload-file",
        "The payload of every item (the work's standard input); - for stdin (default none: "
        "empty)");
  s.Add(a, "keys-file", "More keys, one a line (# comments; default none)");
  enqueue->main = EnqueueCommand;
  DescribeSubcommand(a, {"baton enqueue [OPTIONS] --queue Q [--] KEY...",
                         "baton enqueue --group billing --queue tenant-sync -- acme globex"});
  return enqueue;
}

}  // namespace baton::cli
