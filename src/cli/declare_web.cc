// `baton web`'s options.
#include "commands.h"
#include "subcommand.h"

namespace baton::cli {

std::unique_ptr<Subcommand> DeclareWeb(CLI::App& app) {
  auto web = std::make_unique<Subcommand>();
  web->app = app.add_subcommand(
      "web", "Serve a read-only web page of every group in the store, and its data as JSON");
  AddCommonOptions(web->app, web->settings);
  web->settings.Add(web->app, "listen",
                    "Listen on HOST:PORT; a port alone listens on 127.0.0.1 (default "
                    "127.0.0.1:8080: this host only)");
  web->main = [](const Settings& s, const std::vector<std::string>&) { return WebCommand(s); };
  DescribeSubcommand(web->app, {"baton web [OPTIONS]",
                                "baton web --store postgresql://baton@db/baton --listen 8080",
                                /*exit_code_3=*/false});
  return web;
}

}  // namespace baton::cli
