#pragma once

// What `baton serve --config FILE` hosts: one service per table of the file ([run.NAME],
// [schedule.NAME], [work.NAME]), each checked by the same function its own subcommand uses.

#include <string>
#include <vector>

#include "baton/result.h"
#include "service_configs.h"
#include "settings.h"

namespace baton::cli {

// One hosted service. Its table's name ("work.sync") names it in messages and logs.
template <typename Config>
struct Named {
  std::string name;
  Config config;
};

struct ServePlan {
  Common common;  // Shared by every service: store, id, log format, schema.
  std::string config_path;
  std::vector<Named<RunConfig>> runs;
  std::vector<Named<ScheduleConfig>> schedules;
  std::vector<Named<WorkConfig>> works;
};

// Reads the tables of the config file that `serve` (a resolved `baton serve` Settings) names.
// A table's key wins over everything; a key it leaves out comes from serve's flag or
// environment (the shared options only) or else the file's top-level key; then the
// subcommand's default. kInvalidArgument naming the table and the key for anything wrong.
Result<ServePlan> LoadServePlan(const Settings& serve);

// "3 services: run.billing (group g), ..." for `baton serve --check` and the start log.
std::string DescribePlan(const ServePlan& plan);

}  // namespace baton::cli
