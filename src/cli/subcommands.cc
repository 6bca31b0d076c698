#include "subcommand.h"

namespace baton::cli {

std::vector<std::unique_ptr<Subcommand>> DeclareConfigurable(CLI::App& app) {
  std::vector<std::unique_ptr<Subcommand>> subcommands;
  subcommands.push_back(DeclareRun(app));
  subcommands.push_back(DeclareWork(app));
  subcommands.push_back(DeclareSchedule(app));
  subcommands.push_back(DeclareServe(app));
  subcommands.push_back(DeclareEnqueue(app));
  subcommands.push_back(DeclareQueue(app));
  subcommands.push_back(DeclareStatus(app));
  subcommands.push_back(DeclareStepDown(app));
  subcommands.push_back(DeclareMigrate(app));
  subcommands.push_back(DeclareWeb(app));
  // Extras are kept, not refused by CLI11, so baton's own message can say what to do.
  for (const std::unique_ptr<Subcommand>& sub : subcommands) sub->app->allow_extras();
  return subcommands;
}

std::vector<std::unique_ptr<Subcommand>> DeclareSubcommands(CLI::App& app) {
  std::vector<std::unique_ptr<Subcommand>> subcommands = DeclareConfigurable(app);
  subcommands.push_back(DeclareConfig(app));
  for (const std::unique_ptr<Subcommand>& sub : subcommands) sub->app->allow_extras();
  return subcommands;
}

std::string SubcommandNames() {
  return "run, work, schedule, serve, enqueue, queue, status, step-down, migrate, web or config";
}

std::string ConfigurableNames() {
  return "run, work, schedule, serve, enqueue, queue, status, step-down, migrate or web";
}

}  // namespace baton::cli
