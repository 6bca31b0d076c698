// `baton migrate`'s options.
#include "commands.h"
#include "subcommand.h"

namespace baton::cli {

std::unique_ptr<Subcommand> DeclareMigrate(CLI::App& app) {
  auto migrate = std::make_unique<Subcommand>();
  migrate->app = app.add_subcommand("migrate", "Create or upgrade the store's schema");
  AddCommonOptions(migrate->app, migrate->settings);
  migrate->main = [](const Settings& s, const std::vector<std::string>&) {
    return MigrateCommand(s);
  };
  DescribeSubcommand(migrate->app, {"baton migrate [OPTIONS]",
                                    "baton migrate --store postgresql://baton@db.example/baton"});
  return migrate;
}

}  // namespace baton::cli
