// `baton config check`: the effective configuration of one subcommand, or of every one, with
// where each value came from, refusing (exit 2) what the subcommand itself would refuse.
#include <toml++/toml.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <initializer_list>
#include <map>
#include <optional>
#include <regex>

#include "baton/worker.h"
#include "commands.h"
#include "serve_config.h"
#include "service_configs.h"
#include "store_url.h"
#include "subcommand.h"

namespace baton::cli {
namespace {

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

// The subcommands declared a second time under `check`, so `baton config check run --ttl 5s`
// parses run's options with run's own declarations.
struct CheckTargets {
  CLI::App* config = nullptr;
  CLI::App* check = nullptr;
  std::vector<std::unique_ptr<Subcommand>> targets;
};

std::string OriginText(const Settings& s, const std::string& name) {
  switch (s.OriginOf(name)) {
    case Origin::kFlag:
      return "flag";
    case Origin::kEnv:
      return "env " + EnvName(name);
    case Origin::kFile:
      return "file " + s.ConfigPath();
    case Origin::kDefault:
      break;
  }
  return "default";
}

// "(default 10s, at least 500ms)" in an option's help: the default as documented, for an
// option whose subcommand computes none here.
std::optional<std::string> DocumentedDefault(const std::string& help) {
  static const std::regex kPattern(R"(\(default ([^,)]+))");
  std::smatch m;
  if (!std::regex_search(help, m, kPattern)) return std::nullopt;
  return m[1].str();
}

using Values = std::map<std::string, std::string>;

void PutTiming(Values& v, const Timing& t) {
  v["ttl"] = FormatDuration(t.ttl);
  v["heartbeat"] = FormatDuration(t.heartbeat);
  v["grace"] = FormatDuration(t.grace);
  v["margin"] = FormatDuration(t.margin);
}

// Checks `name`'s settings as that subcommand would before it touches the store (the command
// after -- only when one is given) and returns the values it derives (ttl/5 and the like).
Result<Values> Derive(const std::string& name, const Settings& s,
                      const std::vector<std::string>& command) {
  Values v;
  const bool is_postgres = s.GetOr("store", kDefaultStoreUrl).rfind("sqlite:", 0) != 0;
  v["store"] = kDefaultStoreUrl;
  v["log-format"] = "text";
  v["id"] = "<host>-<pid>-<random hex>";
  if (is_postgres) v["pg-schema"] = "baton";
  if (name == "run") {
    auto config = ResolveRunConfig(s, command, /*need_command=*/false);
    if (!config) return config.error();
    PutTiming(v, config->timing);
    v["on-exit"] = config->exit_with_child ? "exit" : "release";
  } else if (name == "work") {
    auto config = ResolveWorkConfig(s, command, /*need_command=*/false);
    if (!config) return config.error();
    const WorkerOptions& w = config->worker;
    const ClaimTiming timing = *ResolveClaimTiming(w.timing);
    v["visibility"] = FormatDuration(timing.visibility);
    v["grace"] = FormatDuration(timing.grace);
    v["margin"] = FormatDuration(timing.margin);
    v["concurrency"] = std::to_string(w.concurrency);
    v["max-attempts"] = std::to_string(w.max_attempts);
    v["timeout"] = FormatDuration(w.timeout);
    v["backoff"] = FormatDuration(w.backoff);
    v["backoff-max"] = FormatDuration(w.backoff_max);
    v["poll"] = FormatDuration(w.poll);
  } else if (name == "schedule") {
    auto config = ResolveScheduleConfig(s);
    if (!config) return config.error();
    v["ttl"] = FormatDuration(config->resolved.ttl);
    v["heartbeat"] = FormatDuration(config->resolved.heartbeat);
    v["every"] = FormatDuration(config->scheduler.every);
    v["item-ttl"] = FormatDuration(config->scheduler.item_ttl.value_or(config->scheduler.every));
    v["tenants-timeout"] = FormatDuration(config->tenants_timeout);
  } else if (name == "serve") {
    if (auto plan = LoadServePlan(s); !plan) return plan.error();
  } else if (name == "enqueue" || name == "queue") {
    if (auto common = ResolveCommon(s, true); !common) return common.error();
    if (auto queue = ResolveQueueName(s); !queue) return queue.error();
  } else {
    if (auto common = ResolveCommon(s, name == "status"); !common) return common.error();
  }
  return v;
}

// Where each timing value of a refused timing rule came from, since the rule's message names
// the options but not whether a flag, a variable, the file or a default gave them.
std::string TimingSources(const Settings& s, std::initializer_list<const char*> names) {
  std::string out;
  for (const char* name : names) {
    out += std::string(out.empty() ? "" : "; ") + name + ": " + OriginText(s, name);
  }
  return " [" + out + "]";
}

// The checks `baton config check` without a subcommand makes for `target`: its values, and
// its timing rule, whatever it requires beside them (a group, a queue, a command).
Result<void> CheckValues(const std::string& name, const Settings& s) {
  if (auto kinds = s.CheckKinds(); !kinds) return kinds.error();
  if (name == "run") {
    if (auto t = ResolveRunTiming(s); !t) {
      return Invalid(t.error().message() +
                     TimingSources(s, {"ttl", "heartbeat", "margin", "grace"}));
    }
  } else if (name == "schedule") {
    auto lease = ReadLeaseTiming(s);
    if (!lease) return lease.error();
    if (auto t = ResolveTiming(*lease, FlagNames()); !t) {
      return Invalid(t.error().message() + TimingSources(s, {"ttl", "heartbeat"}));
    }
  } else if (name == "work") {
    auto claim = ReadClaimTiming(s);
    if (!claim) return claim.error();
    if (auto t = ResolveClaimTiming(*claim, FlagNames()); !t) {
      return Invalid(t.error().message() + TimingSources(s, {"visibility", "margin", "grace"}));
    }
  }
  return Ok();
}

bool HasServeTables(const std::string& path) {
  try {
    const toml::table file = toml::parse_file(path);
    for (const char* kind : {"run", "schedule", "work"}) {
      if (file[kind].is_table()) return true;
    }
  } catch (const toml::parse_error&) {
    // Settings::Resolve() has reported it already.
  }
  return false;
}

// A value as `config check` prints it: never a password, whether in a URL or on its own.
std::string Shown(const std::string& option, const std::string& value) {
  return option == "etcd-password" ? "***" : RedactUrl(value);
}

// One subcommand's options, every one, with its value and its source.
int PrintTarget(const Subcommand& target, const Values& derived, bool json) {
  const Settings& s = target.settings;
  const std::string name = target.app->get_name();
  nlohmann::json out = {{"subcommand", name}, {"config_file", s.ConfigPath()}};
  out["options"] = nlohmann::json::object();
  size_t width = 0;
  for (const std::string& option : s.Names()) width = std::max(width, option.size());
  if (!json) {
    std::printf("baton %s: effective configuration (flag > env > file > default)\n", name.c_str());
  }
  for (const std::string& option : s.Names()) {
    std::optional<std::string> value = s.Get(option);
    if (!value) {
      if (auto it = derived.find(option); it != derived.end()) {
        value = it->second;
      } else if (s.KindOf(option) == OptionKind::kFlag) {
        value = "false";
      } else {
        value = DocumentedDefault(s.HelpOf(option));
      }
    }
    const std::string source = OriginText(s, option);
    if (json) {
      out["options"][option] = {
          {"value", value ? nlohmann::json(Shown(option, *value)) : nlohmann::json(nullptr)},
          {"source", source}};
    } else {
      std::printf("  %-*s  %s  (%s)\n", static_cast<int>(width), option.c_str(),
                  value ? Shown(option, *value).c_str() : "(none)", source.c_str());
    }
  }
  if (json) std::printf("%s\n", out.dump(2).c_str());
  return kExitOk;
}

// Every subcommand against the file and the environment: each value that is set, once, with
// the subcommands that take it.
int CheckEverySubcommand(CheckTargets& c, const std::optional<std::string>& config, bool json) {
  struct Seen {
    std::string value, source;
    std::vector<std::string> subcommands;
  };
  std::map<std::string, Seen> seen;
  nlohmann::json timing = nlohmann::json::object();
  std::string config_path;
  for (const std::unique_ptr<Subcommand>& target : c.targets) {
    Settings& s = target->settings;
    const std::string name = target->app->get_name();
    if (config) s.Preset("config", *config);
    if (auto resolved = s.Resolve(); !resolved) return ReportError(resolved.error());
    if (auto checked = CheckValues(name, s); !checked) {
      return ReportError(Invalid("baton " + name + ": " + checked.error().message()));
    }
    config_path = s.ConfigPath();
    if (name == "run") {
      Values v;
      PutTiming(v, *ResolveRunTiming(s));
      timing["run"] = v;
    }
    for (const std::string& option : s.Names()) {
      if (option == "config" || s.OriginOf(option) == Origin::kDefault) continue;
      Seen& entry = seen[option];
      entry.value = Shown(option, *s.Get(option));
      entry.source = OriginText(s, option);
      entry.subcommands.push_back(name);
    }
  }
  std::string services;
  if (!config_path.empty() && HasServeTables(config_path)) {
    for (const std::unique_ptr<Subcommand>& target : c.targets) {
      if (target->app->get_name() != "serve") continue;
      auto plan = LoadServePlan(target->settings);
      if (!plan) return ReportError(plan.error());
      services = DescribePlan(*plan);
    }
  }
  if (json) {
    nlohmann::json out = {{"config_file", config_path}, {"timing", timing}};
    out["options"] = nlohmann::json::object();
    for (const auto& [option, e] : seen) {
      out["options"][option] = {
          {"value", e.value}, {"source", e.source}, {"subcommands", e.subcommands}};
    }
    if (!services.empty()) out["serve"] = services;
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  std::printf("%s is fine for every subcommand (flag > env > file > default)\n",
              config_path.empty() ? "the environment" : config_path.c_str());
  for (const auto& [option, e] : seen) {
    std::string users;
    for (const std::string& sub : e.subcommands) users += (users.empty() ? "" : ", ") + sub;
    std::printf("  %s = %s  (%s; %s)\n", option.c_str(), e.value.c_str(), e.source.c_str(),
                e.subcommands.size() == c.targets.size() ? "every subcommand" : users.c_str());
  }
  const Values& run = timing["run"].get<Values>();
  std::printf("  run timing: ttl %s, heartbeat %s, grace %s, margin %s\n", run.at("ttl").c_str(),
              run.at("heartbeat").c_str(), run.at("grace").c_str(), run.at("margin").c_str());
  if (!services.empty()) std::printf("  serve: %s\n", services.c_str());
  return kExitOk;
}

int ConfigCheck(CheckTargets& c, const Settings& settings,
                const std::vector<std::string>& arguments) {
  if (!c.check->parsed()) {
    return ReportError(Invalid("baton config needs an action: baton config check [SUBCOMMAND]"));
  }
  std::vector<std::string> extras = c.config->remaining();
  for (const std::string& extra : c.check->remaining()) extras.push_back(extra);
  if (!extras.empty() && extras.front().starts_with("-")) {
    return ReportError(Invalid(ExplainExtras("config check", {extras.front()}, false)));
  }
  if (!extras.empty()) {
    return ReportError(Invalid("baton config check: unknown subcommand \"" + extras.front() +
                               "\": use " + ConfigurableNames() + " (see baton config --help)"));
  }
  // From the flag or BATON_JSON, never from the file: there `json` is status's and queue's.
  bool json = settings.OriginOf("json") != Origin::kFile && settings.GetFlag("json");
  // Given before the subcommand's name: the file of that subcommand too. From BATON_CONFIG,
  // the subcommand's settings read it themselves.
  std::optional<std::string> config;
  if (settings.OriginOf("config") == Origin::kFlag) config = settings.Get("config");
  for (const std::unique_ptr<Subcommand>& target : c.targets) {
    if (!target->app->parsed()) continue;
    const std::string name = target->app->get_name();
    for (const std::string& extra : target->app->remaining()) {
      if (extra == "--json") {
        json = true;
      } else if (extra.starts_with("-") || !target->takes_arguments) {
        return ReportError(Invalid(ExplainExtras("config check " + name, {extra}, false)));
      }
    }
    if (!arguments.empty() && !target->takes_command) {
      return ReportError(
          Invalid("baton " + name + " runs no command: drop the -- and what follows"));
    }
    Settings& s = target->settings;
    if (config && s.OriginOf("config") != Origin::kFlag) s.Preset("config", *config);
    if (auto resolved = s.Resolve(); !resolved) return ReportError(resolved.error());
    // `status` and `queue` have a --json of their own: given here, it is config check's.
    if (s.Declares("json") && s.OriginOf("json") == Origin::kFlag) json = true;
    if (auto checked = CheckValues(name, s); !checked) return ReportError(checked.error());
    auto derived = Derive(name, s, arguments);
    if (!derived) return ReportError(derived.error());
    return PrintTarget(*target, *derived, json);
  }
  return CheckEverySubcommand(c, config, json);
}

}  // namespace

std::unique_ptr<Subcommand> DeclareConfig(CLI::App& app) {
  auto config = std::make_unique<Subcommand>();
  auto targets = std::make_shared<CheckTargets>();
  config->app = targets->config =
      app.add_subcommand("config", "Check a config file: print the effective configuration");
  config->app->require_subcommand(1);
  config->takes_command = true;
  config->takes_arguments = true;
  CLI::App* check = targets->check = config->app->add_subcommand(
      "check",
      "Print the effective configuration (flag > env > file > default) of SUBCOMMAND, or check "
      "the config file for every subcommand; passwords are never shown");
  config->settings.Add(check, "config", "The TOML file to check (flag > environment > file)");
  config->settings.AddFlag(check, "json", "Print one JSON object");
  check->allow_extras();  // Refused by ConfigCheck(), in baton's words.
  targets->targets = DeclareConfigurable(*check);
  for (const std::unique_ptr<Subcommand>& target : targets->targets) {
    const std::string name = target->app->get_name();
    DescribeSubcommand(target->app,
                       {"baton config check " + name + " [OPTIONS of baton " + name + "] [--json]" +
                            (target->takes_command ? " [-- COMMAND [ARG...]]" : ""),
                        "baton config check " + name + " --config /etc/baton/baton.toml"});
  }
  DescribeSubcommand(check, {"baton config check [--config FILE] [--json] [SUBCOMMAND [OPTIONS]]",
                             "baton config check run --config /etc/baton/baton.toml --ttl 5s"});
  DescribeSubcommand(config->app,
                     {"baton config check [--config FILE] [--json] [SUBCOMMAND [OPTIONS]]",
                      "baton config check --config /etc/baton/baton.toml"});
  config->main = [targets](const Settings& settings, const std::vector<std::string>& arguments) {
    return ConfigCheck(*targets, settings, arguments);
  };
  return config;
}

}  // namespace baton::cli
