#pragma once

#include <toml++/toml.h>

#include <string>

#include "baton/result.h"

namespace baton::cli {

// One value of a config file as option text. `number`: it was a TOML number, so a duration
// then lacks its unit and the error can say so.
struct TomlValue {
  std::string text;
  bool number = false;
  bool boolean = false;
};

// kInvalidArgument naming `key` and `where` (the file, or the table in it) for an array, a
// table or a date.
Result<TomlValue> ReadTomlValue(const std::string& where, const std::string& key,
                                const toml::node& node);

}  // namespace baton::cli
