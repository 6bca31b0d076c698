// baton-fault-proxy: a FaultProxy (fault_proxy.h) driven from standard input, for scripts.
//
//   baton-fault-proxy --target HOST:PORT [--listen PORT]
//
// Prints the port it listens on, then reads one command a line and answers each with "ok"
// once it has taken effect (or "error: ..."):
//   delay DURATION   (200ms, 1s, 0ms)    stall    cut    heal    quit
// The end of standard input is a quit.

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>

#include "fault_proxy.h"

namespace {

using std::chrono::milliseconds;

std::optional<milliseconds> ParseDuration(const std::string& text) {
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  const std::string unit = text.substr(used);
  double ms = 0;
  if (unit == "ms") {
    ms = value;
  } else if (unit == "s") {
    ms = value * 1000;
  } else {
    return std::nullopt;
  }
  if (ms < 0) return std::nullopt;
  return milliseconds(static_cast<int64_t>(ms + 0.5));
}

// Carries out one command line; false on "quit".
bool Execute(const std::string& line, baton::tools::FaultProxy& proxy) {
  std::istringstream words(line);
  std::string command;
  std::string argument;
  std::string extra;
  words >> command >> argument >> extra;
  if (command.empty()) return true;
  if (!extra.empty() || (command != "delay" && !argument.empty())) {
    std::cout << "error: too many words in \"" << line << "\"" << std::endl;
    return true;
  }
  if (command == "quit") return false;
  if (command == "delay") {
    const std::optional<milliseconds> delay = ParseDuration(argument);
    if (!delay) {
      std::cout << "error: delay needs a duration with a unit (200ms, 1s), not \"" << argument
                << "\"" << std::endl;
      return true;
    }
    proxy.SetDelay(*delay);
  } else if (command == "stall") {
    proxy.Stall();
  } else if (command == "cut") {
    proxy.Cut();
  } else if (command == "heal") {
    proxy.Heal();
  } else {
    std::cout << "error: unknown command \"" << command
              << "\" (delay DURATION, stall, cut, heal, quit)" << std::endl;
    return true;
  }
  std::cout << "ok" << std::endl;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"baton-fault-proxy: forward TCP to a target, delaying, stalling or cutting it"};
  int listen_port = 0;
  std::string target;
  app.add_option("--listen", listen_port, "Port on 127.0.0.1 to listen on (0: a free one)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--target", target, "HOST:PORT to forward to")->required();
  CLI11_PARSE(app, argc, argv);

  const size_t colon = target.rfind(':');
  int target_port = 0;
  try {
    target_port = colon == std::string::npos ? 0 : std::stoi(target.substr(colon + 1));
  } catch (const std::exception&) {
    target_port = 0;
  }
  if (colon == std::string::npos || colon == 0 || target_port <= 0 || target_port > 65535) {
    std::cerr << "baton-fault-proxy: --target " << target << " is not HOST:PORT" << std::endl;
    return 2;
  }
  std::unique_ptr<baton::tools::FaultProxy> proxy;
  try {
    proxy = baton::tools::FaultProxy::Start(target.substr(0, colon), target_port, listen_port);
  } catch (const std::exception& e) {
    std::cerr << "baton-fault-proxy: " << e.what() << std::endl;
    return 1;
  }
  std::cout << proxy->port() << std::endl;
  std::string line;
  while (std::getline(std::cin, line)) {
    if (!Execute(line, *proxy)) break;
  }
  return 0;
}
