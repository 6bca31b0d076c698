#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace baton::cli {

// baton's own argv split in two at the first "--": what baton parses, and the command it
// runs. CLI11 never sees the command, so a command's own options (`ls -l`) can never be
// taken for baton's, and anything before "--" that is not an option is an error the user
// can be told how to fix.
struct SplitArguments {
  std::vector<std::string> options;                 // Program name and subcommand first.
  std::optional<std::vector<std::string>> command;  // After "--"; nullopt when no "--".
};
SplitArguments SplitAtDoubleDash(const std::vector<std::string>& argv);

// What each subcommand's --help shows beyond its options.
struct SubcommandHelp {
  std::string usage;         // "baton run [OPTIONS] -- COMMAND [ARG...]"
  std::string example;       // One command line that works.
  bool exit_code_3 = false;  // The subcommand can exit with 3 (no active instance).
};
// Makes `app`'s --help show `help`'s usage line, the exit codes and the example.
void DescribeSubcommand(CLI::App* app, const SubcommandHelp& help);

// A message that says what to do about CLI11's `error` on `subcommand` (empty: none was
// recognised), without CLI11's own wording ("At Most 1 required but received 2").
std::string ExplainParseError(const CLI::ParseError& error, const std::string& subcommand);

// The message for arguments left over before "--" (CLI11's extras): an unknown option, or
// a command given without "--". `takes_command`: the subcommand runs a command.
std::string ExplainExtras(const std::string& subcommand, const std::vector<std::string>& extras,
                          bool takes_command);

}  // namespace baton::cli
