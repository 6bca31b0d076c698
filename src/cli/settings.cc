#include "settings.h"

#include "toml_value.h"

#include <climits>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

namespace baton::cli {
namespace {

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

// Every option name any subcommand declared: a config file key in it belongs to some
// subcommand, so the others ignore it. Filled while main() declares the subcommands, before
// anything is parsed.
std::set<std::string>& KnownKeys() {
  static std::set<std::string> keys;
  return keys;
}

// Top-level tables of a config file that `baton serve` reads: one per hosted service.
bool IsServeTable(const std::string& key) {
  return key == "run" || key == "schedule" || key == "work";
}

// What --help shows after an option's name.
std::string TypeName(OptionKind kind) {
  switch (kind) {
    case OptionKind::kDuration:
      return "DURATION";
    case OptionKind::kCount:
    case OptionKind::kInteger:
      return "N";
    default:
      return "TEXT";
  }
}

}  // namespace

Result<TomlValue> ReadTomlValue(const std::string& path, const std::string& key,
                                const toml::node& node) {
  // Ask the node its type: value<bool>() would read the number 3 as true.
  if (node.is_string()) return TomlValue{node.as_string()->get()};
  if (node.is_boolean()) {
    return TomlValue{node.as_boolean()->get() ? "true" : "false", false, true};
  }
  if (node.is_integer()) return TomlValue{std::to_string(node.as_integer()->get()), true};
  if (node.is_floating_point()) {
    std::ostringstream text;
    text << node.as_floating_point()->get();
    return TomlValue{text.str(), true};
  }
  return Invalid("config file " + path + ": \"" + key +
                 "\" must be a string, a number or true/false, for example " + key +
                 " = \"value\"");
}

std::string EnvName(const std::string& option_name) {
  std::string env = "BATON_";
  for (char c : option_name) env += c == '-' ? '_' : static_cast<char>(std::toupper(c));
  return env;
}

void Settings::Add(CLI::App* app, const std::string& name, const std::string& help,
                   OptionKind kind) {
  Entry& e = entries_[name];
  e.kind = kind;
  e.help = help;
  // A repeated option is reported by Resolve(), naming the values, not by CLI11.
  e.option = app->add_option("--" + name, e.cli_value, help + " [env " + EnvName(name) + "]")
                 ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast)
                 ->type_name(TypeName(kind));
  KnownKeys().insert(name);
}

void Settings::AddFlag(CLI::App* app, const std::string& name, const std::string& help) {
  Entry& e = entries_[name];
  e.flag = true;
  e.kind = OptionKind::kFlag;
  e.help = help;
  e.option = app->add_flag("--" + name, e.flag_value, help + " [env " + EnvName(name) + "=1]");
  KnownKeys().insert(name);
}

Result<void> Settings::Resolve() {
  auto config = entries_.find("config");
  std::optional<toml::table> table;
  for (auto& [name, e] : entries_) {
    if (e.option != nullptr && !e.flag && e.option->count() > 1) {
      std::string values;
      for (const std::string& v : e.option->results()) values += (values.empty() ? "" : ", ") + v;
      return Invalid("--" + name + " was given " + std::to_string(e.option->count()) + " times (" +
                     values + "): give it once");
    }
    if (e.option != nullptr && e.option->count() > 0) {
      e.value = e.flag ? std::string(e.flag_value ? "true" : "false") : e.cli_value;
      e.source = "--" + name;
      e.origin = Origin::kFlag;
    } else if (e.preset) {
      continue;
    } else if (const char* env = std::getenv(EnvName(name).c_str()); env != nullptr && *env) {
      e.value = env;
      e.source = EnvName(name);
      e.origin = Origin::kEnv;
    }
  }
  if (config != entries_.end() && config->second.value) config_path_ = *config->second.value;
  if (config_path_.empty()) return Ok();
  if (!std::ifstream(config_path_)) {
    return Invalid("cannot read the config file " + config_path_ + " (" + config->second.source +
                   "): no such file or not readable");
  }
  try {
    table = toml::parse_file(config_path_);
  } catch (const toml::parse_error& e) {
    return Invalid("config file " + config_path_ + " line " +
                   std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  for (auto&& [key, node] : *table) {
    const std::string k(key.str());
    if (IsServeTable(k) && node.is_table()) continue;  // baton serve's.
    if (node.is_table()) {
      const toml::table& sub = *node.as_table();
      const std::string name = sub.empty() ? k : k + "." + std::string(sub.begin()->first.str());
      return Invalid("config file " + config_path_ + ": unknown table [" + name +
                     "] (baton serve's tables are [run.NAME], [schedule.NAME] and [work.NAME])");
    }
    auto it = entries_.find(k);
    if (it == entries_.end() || k == "config") {
      if (k != "config" && KnownKeys().count(k) > 0) continue;  // Another subcommand's.
      return Invalid("config file " + config_path_ + ": unknown key \"" + k +
                     "\" (no subcommand has an option --" + k + ")");
    }
    Entry& e = it->second;
    if (e.value) continue;  // The flag or the environment wins.
    auto value = ReadTomlValue(config_path_, k, node);
    if (!value) return value.error();
    e.value = value->text;
    e.toml_number = value->number;
    e.toml_boolean = value->boolean;
    e.source = k + " in " + config_path_;
    e.origin = Origin::kFile;
  }
  return Ok();
}

bool Settings::Declares(const std::string& name) const { return entries_.count(name) > 0; }

void Settings::Assign(const std::string& name, std::string value, std::string source,
                      bool toml_number, std::string file) {
  Entry& e = entries_.at(name);
  e.value = std::move(value);
  e.source = std::move(source);
  e.toml_number = toml_number;
  e.origin = Origin::kFile;
  if (toml_number) config_path_ = std::move(file);
}

void Settings::Preset(const std::string& name, std::string value) {
  Entry& e = entries_.at(name);
  e.value = std::move(value);
  e.source = "--" + name;
  e.origin = Origin::kFlag;
  e.preset = true;
}

std::vector<std::string> Settings::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, e] : entries_) names.push_back(name);
  return names;
}

OptionKind Settings::KindOf(const std::string& name) const { return entries_.at(name).kind; }

Origin Settings::OriginOf(const std::string& name) const {
  const Entry& e = entries_.at(name);
  return e.value ? e.origin : Origin::kDefault;
}

std::string Settings::HelpOf(const std::string& name) const { return entries_.at(name).help; }

Result<void> Settings::CheckKinds() const {
  for (const auto& [name, e] : entries_) {
    if (!e.value) continue;
    const std::string& text = *e.value;
    const bool toml_typed = e.toml_number || e.toml_boolean;
    switch (e.kind) {
      case OptionKind::kDuration:
        if (e.toml_boolean) {
          return Invalid(Source(name) + " is true or false: a duration is a string with a unit, " +
                         "for example " + name + " = \"10s\"");
        }
        if (auto d = GetDuration(name); !d) return d.error();
        break;
      case OptionKind::kCount:
      case OptionKind::kInteger: {
        const bool count = e.kind == OptionKind::kCount;
        if (!text.empty() && text[0] == '-' && count) {
          return Invalid(Source(name) + " is negative (" + text +
                         "): give a whole number of at least 1");
        }
        if (auto n = GetInt(name, count ? 1 : LONG_MIN, LONG_MAX); !n || e.toml_boolean) {
          return Invalid(Source(name) + ": \"" + text + "\" is not a whole number" +
                         (count ? " of at least 1" : ""));
        }
        break;
      }
      case OptionKind::kFlag:
        if (e.toml_number || (text != "true" && text != "false" && text != "1" && text != "0" &&
                              text != "yes" && text != "no")) {
          return Invalid(Source(name) + ": \"" + text + "\" is not true or false");
        }
        break;
      case OptionKind::kText:
        if (toml_typed) {
          return Invalid(Source(name) + " is a " + (e.toml_number ? "number" : "boolean") +
                         ": it takes a string, for example " + name + " = \"" + text + "\"");
        }
        break;
    }
  }
  return Ok();
}

std::optional<std::string> Settings::Get(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return it->second.value;
}

std::string Settings::GetOr(const std::string& name, const std::string& fallback) const {
  return Get(name).value_or(fallback);
}

bool Settings::GetFlag(const std::string& name) const {
  auto v = Get(name);
  return v && (*v == "true" || *v == "1" || *v == "yes");
}

std::string Settings::Source(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end() || it->second.source.empty()) return "--" + name;
  return it->second.source;
}

Result<std::optional<Duration>> Settings::GetDuration(const std::string& name) const {
  auto text = Get(name);
  if (!text) return std::optional<Duration>();
  auto parsed = ParseDuration(*text);
  if (const auto it = entries_.find(name); !parsed && it->second.toml_number) {
    return Invalid(name + " = " + *text + " in " + config_path_ +
                   " has no unit: a duration is a string with a unit, ms, s, m or h, for "
                   "example " +
                   name + " = \"" + *text + "s\"");
  }
  if (!parsed) return Invalid(Source(name) + ": " + parsed.error().message());
  if (*parsed <= Duration::zero()) {
    return Invalid(Source(name) + " must be positive (got \"" + *text + "\")");
  }
  return std::optional<Duration>(*parsed);
}

Result<std::optional<long>> Settings::GetInt(const std::string& name, long min, long max) const {
  auto text = Get(name);
  if (!text) return std::optional<long>();
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text->c_str(), &end, 10);
  if (text->empty() || *end != '\0' || errno != 0 || v < min || v > max) {
    return Invalid(Source(name) + ": \"" + *text + "\" is not a whole number from " +
                   std::to_string(min) + " to " + std::to_string(max));
  }
  return std::optional<long>(v);
}

}  // namespace baton::cli
