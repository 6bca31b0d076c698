// `baton SUBCOMMAND --help` is the manual: every option each subcommand declares appears in it
// with its environment variable and its default (or that it has none, or is required).

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "settings.h"
#include "subcommand.h"
#include "support/process.h"

namespace baton::process_test {
namespace {

using test_support::CommandResult;
using test_support::RunCommand;

// The lines of `help` that describe --name: its own line and those that continue it (CLI11
// wraps a long description onto lines that start with spaces only).
std::string OptionText(const std::string& help, const std::string& name) {
  const std::string flag = "--" + name;
  size_t at = 0;
  while ((at = help.find(flag, at)) != std::string::npos) {
    const size_t end = at + flag.size();
    const bool whole = end == help.size() || help[end] == ' ' || help[end] == '\n';
    const size_t line = help.rfind('\n', at) + 1;
    if (whole && help.find_first_not_of(' ', line) == at) break;  // Starts its line.
    at = end;
  }
  if (at == std::string::npos) return "";
  size_t end = help.find('\n', at);
  while (end != std::string::npos && end + 1 < help.size() && help[end + 1] == ' ' &&
         help.find_first_not_of(' ', end + 1) != std::string::npos &&
         help[help.find_first_not_of(' ', end + 1)] != '-') {
    end = help.find('\n', end + 1);
  }
  return help.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

void ExpectEveryOptionDocumented(const std::vector<std::string>& prefix,
                                 const cli::Subcommand& sub) {
  std::vector<std::string> argv = {BATON_BIN};
  argv.insert(argv.end(), prefix.begin(), prefix.end());
  argv.push_back(sub.app->get_name());
  argv.push_back("--help");
  const CommandResult result = RunCommand(argv);
  const std::string shown = testing::PrintToString(argv);
  ASSERT_TRUE(result.Exited(0)) << shown << ": " << result.Describe();
  for (const std::string& name : sub.settings.Names()) {
    const std::string text = OptionText(result.out, name);
    ASSERT_FALSE(text.empty()) << shown << " does not list --" << name << ":\n" << result.out;
    EXPECT_NE(text.find("[env " + cli::EnvName(name)), std::string::npos)
        << shown << ": --" << name << " without its variable: " << text;
    if (sub.settings.KindOf(name) != cli::OptionKind::kFlag) {
      const bool says =
          text.find("default") != std::string::npos || text.find("required") != std::string::npos;
      EXPECT_TRUE(says) << shown << ": --" << name << " says neither its default nor that it is "
                        << "required: " << text;
    }
  }
  EXPECT_NE(result.out.find("Exit codes:"), std::string::npos) << shown;
  EXPECT_NE(result.out.find("Example:"), std::string::npos) << shown;
}

TEST(HelpTest, EveryOptionOfEverySubcommandIsInItsHelpWithItsVariableAndDefault) {
  CLI::App app;
  const std::vector<std::unique_ptr<cli::Subcommand>> subcommands = cli::DeclareConfigurable(app);
  ASSERT_GE(subcommands.size(), 8u);
  for (const std::unique_ptr<cli::Subcommand>& sub : subcommands) {
    ExpectEveryOptionDocumented({}, *sub);
    ExpectEveryOptionDocumented({"config", "check"}, *sub);
  }
}

TEST(HelpTest, TopLevelHelpListsEverySubcommand) {
  const CommandResult result = RunCommand({BATON_BIN, "--help"});
  ASSERT_TRUE(result.Exited(0)) << result.Describe();
  for (const char* name :
       {"run", "work", "schedule", "serve", "enqueue", "queue", "status", "migrate", "config"}) {
    EXPECT_NE(result.out.find("  " + std::string(name) + " "), std::string::npos)
        << name << " missing from:\n"
        << result.out;
  }
  const CommandResult check = RunCommand({BATON_BIN, "config", "check", "--help"});
  ASSERT_TRUE(check.Exited(0)) << check.Describe();
  EXPECT_NE(check.out.find("--json"), std::string::npos) << check.out;
  EXPECT_NE(check.out.find("--config"), std::string::npos) << check.out;
}

}  // namespace
}  // namespace baton::process_test
