#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "arguments.h"
#include "settings.h"

namespace baton::cli {

// One subcommand of `baton`: its options and what runs it. Each is declared in a file of its
// own (declare_<name>.cc), so a new subcommand is one new file and one line in
// DeclareSubcommands().
//
// Thread-compatible: declared, parsed and run on the main thread.
struct Subcommand {
  CLI::App* app = nullptr;
  Settings settings;
  // It runs the command given after "--".
  bool takes_command = false;
  // Arguments before "--" that are not options are the subcommand's own (enqueue's keys,
  // queue's action), passed to `main` ahead of what follows "--".
  bool takes_arguments = false;
  std::function<int(const Settings&, const std::vector<std::string>&)> main;
};

// Each adds its subcommand to `app` (declare_<name>.cc).
std::unique_ptr<Subcommand> DeclareRun(CLI::App& app);
std::unique_ptr<Subcommand> DeclareWork(CLI::App& app);
std::unique_ptr<Subcommand> DeclareSchedule(CLI::App& app);  // schedule_command.cc
std::unique_ptr<Subcommand> DeclareEnqueue(CLI::App& app);
std::unique_ptr<Subcommand> DeclareQueue(CLI::App& app);
std::unique_ptr<Subcommand> DeclareStatus(CLI::App& app);
std::unique_ptr<Subcommand> DeclareStepDown(CLI::App& app);  // step_down_command.cc
std::unique_ptr<Subcommand> DeclareMigrate(CLI::App& app);
std::unique_ptr<Subcommand> DeclareServe(CLI::App& app);   // serve_command.cc
std::unique_ptr<Subcommand> DeclareConfig(CLI::App& app);  // config_command.cc
std::unique_ptr<Subcommand> DeclareWeb(CLI::App& app);

// Every subcommand a config file configures (all but `config`), in the order `baton --help`
// lists them; `baton config check` declares them again under itself.
std::vector<std::unique_ptr<Subcommand>> DeclareConfigurable(CLI::App& app);
// Every subcommand, in the order `baton --help` lists them.
std::vector<std::unique_ptr<Subcommand>> DeclareSubcommands(CLI::App& app);

// "run, work, ... or config": the names for messages that list them.
std::string SubcommandNames();
// The same without `config`: what `baton config check` checks.
std::string ConfigurableNames();

}  // namespace baton::cli
