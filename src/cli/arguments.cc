#include "arguments.h"

#include <memory>

#include "subcommand.h"

namespace baton::cli {
namespace {

// CLI11 would print "Usage: baton run [OPTIONS]", which hides the "--" that matters most.
class UsageFormatter final : public CLI::Formatter {
 public:
  explicit UsageFormatter(std::string usage) : usage_(std::move(usage)) {}
  std::string make_usage(const CLI::App* /*app*/, std::string /*name*/) const override {
    return "Usage: " + usage_ + "\n";
  }

 private:
  std::string usage_;
};

bool StartsWith(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string Quoted(const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// "--ttl: At Most 1 required ..." and "--ttl: 1 required TEXT missing" start with the name.
std::string OptionNameIn(const std::string& message) {
  const size_t colon = message.find(':');
  if (!StartsWith(message, "-") || colon == std::string::npos) return "";
  return message.substr(0, colon);
}

}  // namespace

SplitArguments SplitAtDoubleDash(const std::vector<std::string>& argv) {
  SplitArguments split;
  for (size_t i = 0; i < argv.size(); ++i) {
    if (argv[i] == "--" && i >= 1) {
      split.command.emplace(argv.begin() + static_cast<long>(i) + 1, argv.end());
      return split;
    }
    split.options.push_back(argv[i]);
  }
  return split;
}

void DescribeSubcommand(CLI::App* app, const SubcommandHelp& help) {
  app->formatter(std::make_shared<UsageFormatter>(help.usage));
  std::string footer =
      "\nExit codes: 0 done; 1 runtime failure (store unreachable past retries, ...); "
      "2 bad usage or configuration";
  if (help.exit_code_3) footer += "; 3 the group has no active instance";
  footer += ".\n\nExample:\n  " + help.example + "\n";
  app->footer(footer);
}

std::string ExplainParseError(const CLI::ParseError& error, const std::string& subcommand) {
  const std::string what = error.what();
  const std::string help = subcommand.empty() ? "baton --help" : "baton " + subcommand + " --help";
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&error) != nullptr) {
    const std::string name = OptionNameIn(what);
    if (!name.empty() && what.find("missing") != std::string::npos) {
      return name + " needs a value (see " + help + ")";
    }
    if (!name.empty()) return name + " was given more than once: give it once";
  }
  if (dynamic_cast<const CLI::RequiredError*>(&error) != nullptr && subcommand.empty()) {
    return "name a subcommand: " + SubcommandNames() + " (see baton --help)";
  }
  if (const auto* extras = dynamic_cast<const CLI::ExtrasError*>(&error);
      extras != nullptr && subcommand.empty()) {
    return "unknown subcommand: use " + SubcommandNames() +
           " (see baton --help); got: " + what.substr(what.find(':') + 1);
  }
  return what + " (see " + help + ")";
}

std::string ExplainExtras(const std::string& subcommand, const std::vector<std::string>& extras,
                          bool takes_command) {
  const std::string& first = extras.front();
  if (StartsWith(first, "-")) {
    std::string message = "baton " + subcommand + " has no option " + first;
    if (takes_command) {
      message += "; if it is the command's, put the command after --, for example baton " +
                 subcommand + " --group NAME -- " + Quoted(extras);
    }
    return message + " (see baton " + subcommand + " --help)";
  }
  if (takes_command) {
    return "unexpected argument \"" + first + "\": put the command after --, for example baton " +
           subcommand + " --group NAME -- " + Quoted(extras);
  }
  return "baton " + subcommand + " takes no argument \"" + first + "\" (see baton " + subcommand +
         " --help)";
}

}  // namespace baton::cli
