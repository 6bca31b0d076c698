// The `baton` program: wraps any command so that exactly one copy in a group is active.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../guardian/guardian.h"
#include "arguments.h"
#include "commands.h"
#include "store_url.h"
#include "subcommand.h"

namespace {

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

  const std::vector<std::unique_ptr<baton::cli::Subcommand>> subcommands =
      baton::cli::DeclareSubcommands(app);

  const auto known = [&](const std::string& name) {
    for (const auto& sub : subcommands) {
      if (sub->app->get_name() == name) return true;
    }
    return false;
  };
  if (split.options.size() >= 2 && split.options[1][0] != '-' && !known(split.options[1])) {
    return UsageError("unknown subcommand \"" + split.options[1] + "\": use " +
                      baton::cli::SubcommandNames() + " (see baton --help)");
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
    for (const auto& sub : subcommands) {
      if (sub->app->parsed()) name = sub->app->get_name();
    }
    return UsageError(baton::cli::ExplainParseError(e, name));
  }

  for (const auto& sub : subcommands) {
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
