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
// Thread-compatible: built and read on the main thread.
class Settings final {
 public:
  // Declares --name (a value option, or a flag) on `app`. The environment variable is
  // BATON_<NAME> with '-' as '_', the config key is `name`.
  void Add(CLI::App* app, const std::string& name, const std::string& help);
  void AddFlag(CLI::App* app, const std::string& name, const std::string& help);

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

 private:
  struct Entry {
    std::string cli_value;
    bool flag = false;
    bool flag_value = false;
    CLI::Option* option = nullptr;
    std::optional<std::string> value;
    std::string source;
    // The value came from the config file as a TOML number: a duration then lacks its unit.
    bool toml_number = false;
  };

  std::map<std::string, Entry> entries_;
  std::string config_path_;
};

std::string EnvName(const std::string& option_name);

}  // namespace baton::cli
