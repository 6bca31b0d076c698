#include "support/probe_log.h"

#include <sstream>
#include <stdexcept>

#include "support/wait.h"

namespace baton::test_support {
namespace {

bool KnownKind(const std::string& kind) {
  for (const char* known : {"start", "alive", "stop", "exit", "overlap"}) {
    if (kind == known) return true;
  }
  return false;
}

ProbeEvent ParseLine(const std::string& line) {
  ProbeEvent event;
  event.line = line;
  std::istringstream fields(line);
  fields >> event.kind;
  for (std::string field; fields >> field;) {
    const auto eq = field.find('=');
    if (eq == std::string::npos) continue;
    const std::string key = field.substr(0, eq);
    const std::string value = field.substr(eq + 1);
    try {
      if (key == "token") event.token = value == "none" ? -1 : std::stoll(value);
      if (key == "instance") event.instance = value;
      if (key == "pid") event.pid = static_cast<pid_t>(std::stol(value));
      if (key == "mono_ns") event.mono_ns = std::stoll(value);
    } catch (const std::exception&) {
      throw std::runtime_error("bad probe log line: " + line);
    }
  }
  if (!KnownKind(event.kind) || event.pid <= 0 || event.mono_ns <= 0) {
    throw std::runtime_error("bad probe log line: " + line);
  }
  return event;
}

}  // namespace

std::vector<ProbeEvent> ReadProbeLog(const std::string& path) {
  const std::string text = ReadFile(path);
  std::vector<ProbeEvent> events;
  std::string::size_type begin = 0;
  for (auto end = text.find('\n'); end != std::string::npos; end = text.find('\n', begin)) {
    events.push_back(ParseLine(text.substr(begin, end - begin)));
    begin = end + 1;
  }
  return events;
}

std::vector<ProbeEvent> ProbeEvents(const std::string& path, const std::string& kind) {
  std::vector<ProbeEvent> matching;
  for (ProbeEvent& event : ReadProbeLog(path)) {
    if (event.kind == kind) matching.push_back(std::move(event));
  }
  return matching;
}

std::optional<ProbeEvent> LastStart(const std::string& path) {
  std::vector<ProbeEvent> starts = ProbeEvents(path, "start");
  if (starts.empty()) return std::nullopt;
  return starts.back();
}

std::string CheckTokensIncrease(const std::vector<ProbeEvent>& events) {
  const ProbeEvent* previous = nullptr;
  for (const ProbeEvent& event : events) {
    if (event.kind != "start") continue;
    if (previous != nullptr && event.token <= previous->token) {
      return "token did not increase:\n  " + previous->line + "\n  " + event.line;
    }
    previous = &event;
  }
  return "";
}

}  // namespace baton::test_support
