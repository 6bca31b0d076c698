#include "serve_config.h"

#include <CLI/CLI.hpp>

#include <set>

#include "subcommand.h"
#include "toml_value.h"

namespace baton::cli {
namespace {

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

// One store connection (pool), one id, one log: a table cannot have its own.
const std::set<std::string>& SharedKeys() {
  static const std::set<std::string> keys = {
      "store",         "id",          "log-format", "pg-schema", "config", "metrics", "etcd-user",
      "etcd-password", "etcd-cacert", "etcd-cert",  "etcd-key"};
  return keys;
}

// `command = ["sh", "-c", "..."]`: an array of strings, run without a shell.
Result<std::vector<std::string>> ReadCommand(const std::string& where, const toml::node* node) {
  const std::string example = " for example command = [\"./sync-tenant\", \"--all\"]";
  if (node == nullptr) return Invalid(where + ": command is required:" + example);
  const toml::array* array = node->as_array();
  if (array == nullptr || array->empty()) {
    return Invalid(where +
                   ": command must be a non-empty array of strings (no shell unless you "
                   "write one):" +
                   example);
  }
  std::vector<std::string> words;
  for (const toml::node& word : *array) {
    if (!word.is_string())
      return Invalid(where + ": every word of command must be a string:" + example);
    words.push_back(word.as_string()->get());
  }
  return words;
}

// Fills `settings` (a subcommand's) from the top-level keys, then serve's shared options, then
// the table; returns the table's command when `with_command`.
Result<std::vector<std::string>> FillSettings(const Settings& serve, const std::string& path,
                                              const toml::table& top, const std::string& kind,
                                              const std::string& where, const toml::table& table,
                                              bool with_command, Settings& settings) {
  for (auto&& [key, node] : top) {
    const std::string k(key.str());
    if (node.is_table() || !settings.Declares(k) || k == "config") continue;
    auto value = ReadTomlValue(path, k, node);
    if (!value) return value.error();
    settings.Assign(k, value->text, k + " in " + path, value->number, path);
  }
  for (const std::string& k : SharedKeys()) {
    if (auto value = serve.Get(k); value && settings.Declares(k) && k != "config") {
      settings.Assign(k, *value, serve.Source(k), false, path);
    }
  }
  for (auto&& [key, node] : table) {
    const std::string k(key.str());
    if (k == "command" && with_command) continue;
    if (SharedKeys().count(k) > 0) {
      return Invalid(where + ": " + k +
                     " is shared by every service of the process: set it at the top of the file "
                     "(or with --" +
                     k + "), not in a table");
    }
    if (!settings.Declares(k)) {
      return Invalid(where + ": unknown key \"" + k + "\" (baton " + kind + " has no option --" +
                     k + ")");
    }
    auto value = ReadTomlValue(where, k, node);
    if (!value) return value.error();
    settings.Assign(k, value->text, k + " in " + where, value->number, where);
  }
  if (!with_command) return std::vector<std::string>();
  return ReadCommand(where, table.get("command"));
}

// A message of the subcommand's resolving, said of the table.
Error InTable(const std::string& where, const Error& error) {
  return Invalid(where + ": " + error.message());
}

}  // namespace

Result<ServePlan> LoadServePlan(const Settings& serve) {
  ServePlan plan;
  auto common = ResolveCommon(serve, false);
  if (!common) return common.error();
  plan.common = *common;
  auto path = serve.Get("config");
  if (!path) {
    return Invalid(
        "baton serve needs --config FILE: a TOML file with one table per service, "
        "for example [run.billing] with command = [\"./billing\"]");
  }
  plan.config_path = *path;
  toml::table file;
  try {
    file = toml::parse_file(*path);
  } catch (const toml::parse_error& e) {
    return Invalid("config file " + *path + " line " + std::to_string(e.source().begin.line) +
                   ": " + std::string(e.description()));
  }
  for (auto&& [kind_key, kind_node] : file) {
    const std::string kind(kind_key.str());
    if (!kind_node.is_table()) continue;  // A top-level key: Settings::Resolve() checked it.
    for (auto&& [name_key, node] : *kind_node.as_table()) {
      const std::string name = kind + "." + std::string(name_key.str());
      const std::string where = "[" + name + "] in " + *path;
      if (!node.is_table()) {
        return Invalid("config file " + *path + ": [" + kind +
                       "] holds one table per service, "
                       "[" +
                       kind + ".NAME], and " + name + " is not a table");
      }
      const toml::table& table = *node.as_table();
      CLI::App scratch;
      if (kind == "run") {
        auto sub = DeclareRun(scratch);
        auto command = FillSettings(serve, *path, file, kind, where, table, true, sub->settings);
        if (!command) return command.error();
        auto config = ResolveRunConfig(sub->settings, *command);
        if (!config) return InTable(where, config.error());
        config->common.id = plan.common.id;
        plan.runs.push_back({name, std::move(*config)});
      } else if (kind == "work") {
        auto sub = DeclareWork(scratch);
        auto command = FillSettings(serve, *path, file, kind, where, table, true, sub->settings);
        if (!command) return command.error();
        if (!sub->settings.Get("queue"))
          return Invalid(where + ": queue is required, for example queue = \"tenant-sync\"");
        auto config = ResolveWorkConfig(sub->settings, *command);
        if (!config) return InTable(where, config.error());
        config->common.id = plan.common.id;
        config->worker.worker_id = plan.common.id;
        plan.works.push_back({name, std::move(*config)});
      } else if (kind == "schedule") {
        auto sub = DeclareSchedule(scratch);
        auto none = FillSettings(serve, *path, file, kind, where, table, false, sub->settings);
        if (!none) return none.error();
        if (!sub->settings.Get("queue"))
          return Invalid(where + ": queue is required, for example queue = \"tenant-sync\"");
        auto config = ResolveScheduleConfig(sub->settings);
        if (!config) return InTable(where, config.error());
        config->common.id = plan.common.id;
        plan.schedules.push_back({name, std::move(*config)});
      } else {
        return Invalid("config file " + *path + ": unknown table [" + name +
                       "] (baton serve's tables are [run.NAME], [schedule.NAME] and [work.NAME])");
      }
    }
  }
  if (plan.runs.empty() && plan.schedules.empty() && plan.works.empty()) {
    return Invalid("config file " + *path +
                   " has no service: add a [run.NAME], [schedule.NAME] "
                   "or [work.NAME] table");
  }
  return plan;
}

std::string DescribePlan(const ServePlan& plan) {
  std::vector<std::string> parts;
  for (const auto& r : plan.runs) {
    parts.push_back(r.name + " (group " + r.config.common.group + ", ttl " +
                    FormatDuration(r.config.timing.ttl) + ", " + r.config.command[0] + ")");
  }
  for (const auto& s : plan.schedules) {
    parts.push_back(s.name + " (group " + s.config.common.group + ", queue " +
                    s.config.scheduler.queue.queue + ", every " +
                    FormatDuration(s.config.scheduler.every) + ")");
  }
  for (const auto& w : plan.works) {
    parts.push_back(w.name + " (group " + w.config.common.group + ", queue " +
                    w.config.worker.queue.queue + ", " +
                    std::to_string(w.config.worker.concurrency) + " slot(s), " +
                    w.config.command[0] + ")");
  }
  std::string text = std::to_string(parts.size()) + " service(s): ";
  for (size_t i = 0; i < parts.size(); ++i) text += (i == 0 ? "" : ", ") + parts[i];
  return text;
}

}  // namespace baton::cli
