#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "baton/result.h"
#include "baton/timing.h"

namespace baton::cli {

// The options of one subcommand, each settable by flag, by a BATON_* environment variable
// or by a key in the TOML config file, with that precedence (SPEC 4). Values stay text
// until asked for, so an error can name where a bad value came from.
//
// One config file serves every subcommand: a key that another subcommand declares is
// ignored, a key that none declares is an error, and the top-level tables `run`, `schedule`
// and `work` are left to `baton serve` (one table per hosted service).
//
// What an option's value must be, so `baton config check` can judge every value that is
// set, also those its subcommand would read only later (or never, on this run).
enum class OptionKind {
  kText,
  kDuration,  // A string with a unit ("10s").
  kCount,     // A whole number, at least 1.
  kInteger,   // A whole number of either sign.
  kFlag,      // true or false.
};

// Where an option's value came from (SPEC 4's precedence, highest first).
enum class Origin { kFlag, kEnv, kFile, kDefault };

// Thread-compatible: built and read on the main thread.
class Settings final {
 public:
  // Declares --name (a value option, or a flag) on `app`. The environment variable is
  // BATON_<NAME> with '-' as '_', the config key is `name`.
  void Add(CLI::App* app, const std::string& name, const std::string& help,
           OptionKind kind = OptionKind::kText);
  void AddFlag(CLI::App* app, const std::string& name, const std::string& help);

  // Gives `name` the value a flag would, unless its own flag is given: `baton config check
  // --config F run` hands the file to the settings of the `run` it checks.
  // REQUIRES: Declares(name); called before Resolve().
  void Preset(const std::string& name, std::string value);

  // After CLI11 has parsed: fills what the command line left unset from the environment,
  // then from the config file (--config or BATON_CONFIG), if any.
  Result<void> Resolve();

  // Whether Add() or AddFlag() declared `name`.
  bool Declares(const std::string& name) const;
  // Sets `name`'s value as if it came from `source` ("ttl in [run.billing] of F"), for
  // `baton serve`, which fills a hosted service's settings from its table instead of calling
  // Resolve(). `file`: where a TOML number came from, for the message that it lacks a unit.
  // REQUIRES: Declares(name).
  void Assign(const std::string& name, std::string value, std::string source, bool toml_number,
              std::string file);

  std::optional<std::string> Get(const std::string& name) const;
  std::string GetOr(const std::string& name, const std::string& fallback) const;
  bool GetFlag(const std::string& name) const;
  // Parses a duration; the error names the flag, variable or config key it came from.
  Result<std::optional<Duration>> GetDuration(const std::string& name) const;
  Result<std::optional<long>> GetInt(const std::string& name, long min, long max) const;
  // "--ttl", "BATON_TTL" or "ttl in /etc/baton.toml": where `name` got its value.
  std::string Source(const std::string& name) const;

  // The declared option names, in alphabetical order.
  std::vector<std::string> Names() const;
  OptionKind KindOf(const std::string& name) const;
  Origin OriginOf(const std::string& name) const;
  // The help text given to Add(), without the "[env ...]" that Add() appends.
  std::string HelpOf(const std::string& name) const;
  // The config file Resolve() read; empty when none.
  const std::string& ConfigPath() const { return config_path_; }
  // Checks every value that is set against its OptionKind: a duration with a unit, a whole
  // number (at least 1 for a count), true or false for a flag, and a string, not a TOML
  // number or boolean, for text. kInvalidArgument naming the flag, variable or key.
  Result<void> CheckKinds() const;

 private:
  struct Entry {
    std::string cli_value;
    bool flag = false;
    bool flag_value = false;
    CLI::Option* option = nullptr;
    OptionKind kind = OptionKind::kText;
    std::string help;
    std::optional<std::string> value;
    std::string source;
    Origin origin = Origin::kDefault;
    bool preset = false;
    // The value came from the config file as a TOML number: a duration then lacks its unit.
    bool toml_number = false;
    bool toml_boolean = false;
  };

  std::map<std::string, Entry> entries_;
  std::string config_path_;
};

std::string EnvName(const std::string& option_name);

}  // namespace baton::cli
