// `baton status`'s options.
#include "commands.h"
#include "subcommand.h"

namespace baton::cli {

std::unique_ptr<Subcommand> DeclareStatus(CLI::App& app) {
  auto status = std::make_unique<Subcommand>();
  status->app = app.add_subcommand("status", "Show the group's active instance and members");
  AddCommonOptions(status->app, status->settings);
  status->settings.AddFlag(status->app, "json", "Print one JSON object");
  status->settings.AddFlag(status->app, "watch", "Refresh every second until interrupted");
  status->main = [](const Settings& s, const std::vector<std::string>&) {
    return StatusCommand(s);
  };
  DescribeSubcommand(status->app,
                     {"baton status [OPTIONS]", "baton status --group billing-sync --json",
                      /*exit_code_3=*/true});
  return status;
}

}  // namespace baton::cli
