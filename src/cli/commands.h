#pragma once

#include <string>
#include <vector>

#include "common.h"
#include "settings.h"

namespace baton::cli {

// Each returns the process exit code (SPEC 4).
int RunCommand(const Settings& settings, const std::vector<std::string>& command);
int StatusCommand(const Settings& settings);
int StepDownCommand(const Settings& settings);
int MigrateCommand(const Settings& settings);
int WebCommand(const Settings& settings);
int WorkCommand(const Settings& settings, const std::vector<std::string>& command);
int ScheduleCommand(const Settings& settings);
int ServeCommand(const Settings& settings);
// `keys`: the keys given as arguments (before or after --).
int EnqueueCommand(const Settings& settings, const std::vector<std::string>& keys);
// `args`: the action and its argument ("stats", "requeue 17").
int QueueCommand(const Settings& settings, const std::vector<std::string>& args);

}  // namespace baton::cli
