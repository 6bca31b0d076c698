#include "record.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <sstream>

namespace baton::chaos {
namespace {

// One line split into its kind and key=value fields, with errors that say where it was.
class Fields final {
 public:
  Fields(std::string where, std::string_view line) : where_(std::move(where)), line_(line) {
    std::string_view rest = line;
    while (!rest.empty()) {
      const size_t space = rest.find(' ');
      const std::string_view word = rest.substr(0, space);
      rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
      if (word.empty()) continue;
      if (kind_.empty()) {
        kind_ = word;
        continue;
      }
      const size_t eq = word.find('=');
      if (eq == std::string_view::npos || eq == 0) Fail("not key=value: " + std::string(word));
      fields_.emplace_back(word.substr(0, eq), word.substr(eq + 1));
    }
  }

  const std::string& kind() const { return kind_; }

  std::string Text(std::string_view key) const {
    for (const auto& [name, value] : fields_) {
      if (name == key) return value;
    }
    Fail("no " + std::string(key));
  }

  template <typename Number>
  Number Get(std::string_view key) const {
    const std::string text = Text(key);
    Number number{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (error != std::errc() || end != text.data() + text.size()) {
      Fail(std::string(key) + "=" + text + " is not a number");
    }
    return number;
  }

  // The fields other than `known`, in the order written.
  std::vector<std::pair<std::string, std::string>> Others(
      std::initializer_list<std::string_view> known) const {
    std::vector<std::pair<std::string, std::string>> others;
    for (const auto& field : fields_) {
      if (std::find(known.begin(), known.end(), field.first) == known.end()) {
        others.push_back(field);
      }
    }
    return others;
  }

  [[noreturn]] void Fail(const std::string& why) const {
    throw RecordError(where_ + ": " + why + " in \"" + std::string(line_) + "\"");
  }

 private:
  std::string where_;
  std::string_view line_;
  std::string kind_;
  std::vector<std::pair<std::string, std::string>> fields_;
};

// Calls `parse(fields)` for each complete, non-blank line of `path`. A missing file is
// an error only when `required`.
template <typename Parse>
void ForEachLine(const std::string& dir, const std::string& name, bool required, Parse parse) {
  const std::string path = dir + "/" + name;
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (!required && !std::filesystem::exists(path)) return;
    throw RecordError("cannot read " + path);
  }
  std::ostringstream text_stream;
  text_stream << in.rdbuf();
  const std::string text = text_stream.str();

  size_t begin = 0;
  int number = 1;
  for (size_t end = text.find('\n'); end != std::string::npos;
       begin = end + 1, end = text.find('\n', begin), ++number) {
    const std::string_view line(text.data() + begin, end - begin);
    if (line.find_first_not_of(' ') == std::string_view::npos) continue;
    parse(Fields(name + ":" + std::to_string(number), line));
  }
}

ProbeKind ParseProbeKind(const Fields& fields) {
  for (ProbeKind kind : {ProbeKind::kStart, ProbeKind::kAlive, ProbeKind::kStop, ProbeKind::kExit,
                         ProbeKind::kOverlap}) {
    if (fields.kind() == Name(kind)) return kind;
  }
  fields.Fail("unknown kind " + fields.kind());
}

ProbeLine ParseProbe(const Fields& fields) {
  ProbeLine probe;
  probe.kind = ParseProbeKind(fields);
  // "none" is what a probe writes outside baton; in a chaos run every child has a token.
  probe.token = fields.Get<int64_t>("token");
  probe.instance = fields.Text("instance");
  probe.pid = fields.Get<pid_t>("pid");
  probe.mono_ns = fields.Get<int64_t>("mono_ns");
  if (probe.pid <= 0) fields.Fail("pid must be positive");
  return probe;
}

}  // namespace

ProbeLine ParseProbeLine(std::string_view line) { return ParseProbe(Fields("probes.log", line)); }

namespace {

FaultLine ParseFault(const Fields& fields) {
  if (fields.kind() != "fault") fields.Fail("unknown kind " + fields.kind());
  FaultLine fault;
  fault.kind = fields.Text("kind");
  fault.target = fields.Text("target");
  fault.mono_ns = fields.Get<int64_t>("mono_ns");
  fault.details = fields.Others({"kind", "target", "mono_ns"});
  return fault;
}

void ParseRunLog(const std::string& dir, Record& record) {
  bool seen_run = false;
  ForEachLine(dir, "run.log", /*required=*/true, [&](const Fields& fields) {
    if (record.end_ns) fields.Fail("a line after the end line");
    if (fields.kind() == "run" && !seen_run) {
      record.run.store = fields.Text("store");
      record.run.seed = fields.Get<uint64_t>("seed");
      record.run.instances = fields.Get<int>("instances");
      record.run.ttl_ms = fields.Get<int64_t>("ttl_ms");
      record.run.mono_ns = fields.Get<int64_t>("mono_ns");
      seen_run = true;
    } else if (fields.kind() == "end" && seen_run) {
      record.end_ns = fields.Get<int64_t>("mono_ns");
    } else {
      fields.Fail(seen_run ? "expected an end line" : "expected the run line first");
    }
  });
  if (!seen_run) throw RecordError(dir + "/run.log: no run line");
}

}  // namespace

std::string_view Name(ProbeKind kind) {
  switch (kind) {
    case ProbeKind::kStart:
      return "start";
    case ProbeKind::kAlive:
      return "alive";
    case ProbeKind::kStop:
      return "stop";
    case ProbeKind::kExit:
      return "exit";
    case ProbeKind::kOverlap:
      return "overlap";
  }
  return "unknown";
}

int64_t Record::EndNs() const {
  if (end_ns) return *end_ns;
  int64_t latest = run.mono_ns;
  for (const ProbeLine& probe : probes) latest = std::max(latest, probe.mono_ns);
  for (const FaultLine& fault : faults) latest = std::max(latest, fault.mono_ns);
  return latest;
}

Record ReadRecord(const std::string& dir) {
  Record record;
  record.dir = dir;
  ParseRunLog(dir, record);
  ForEachLine(dir, "probes.log", /*required=*/false,
              [&](const Fields& fields) { record.probes.push_back(ParseProbe(fields)); });
  ForEachLine(dir, "faults.log", /*required=*/false,
              [&](const Fields& fields) { record.faults.push_back(ParseFault(fields)); });
  return record;
}

}  // namespace baton::chaos
