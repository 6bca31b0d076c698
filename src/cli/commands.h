#pragma once

#include <string>
#include <vector>

#include "common.h"
#include "settings.h"

namespace baton::cli {

// Each returns the process exit code (SPEC 4).
int RunCommand(const Settings& settings, const std::vector<std::string>& command);
int StatusCommand(const Settings& settings);
int MigrateCommand(const Settings& settings);

}  // namespace baton::cli
