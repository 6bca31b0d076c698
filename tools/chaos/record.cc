#include "record.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <nlohmann/json.hpp>
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

  bool Has(std::string_view key) const {
    return std::any_of(fields_.begin(), fields_.end(),
                       [&](const auto& field) { return field.first == key; });
  }

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
      if (fields.Has("mode")) record.run.mode = fields.Text("mode");
      if (record.run.mode != "lease" && record.run.mode != "queue") {
        fields.Fail("unknown mode " + record.run.mode);
      }
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

ItemLine ParseItem(const Fields& fields) {
  ItemLine line;
  bool known = false;
  for (ItemKind kind : {ItemKind::kStart, ItemKind::kOverlap, ItemKind::kDone, ItemKind::kTerm}) {
    if (fields.kind() == Name(kind)) {
      line.kind = kind;
      known = true;
    }
  }
  if (!known) fields.Fail("unknown kind " + fields.kind());
  line.item = fields.Get<uint64_t>("item");
  line.tenant = fields.Text("tenant");
  line.attempt = fields.Get<int>("attempt");
  line.token = fields.Get<uint64_t>("token");
  line.pid = fields.Get<pid_t>("pid");
  if (line.kind != ItemKind::kTerm) line.mono_ns = fields.Get<int64_t>("mono_ns");
  if (line.pid <= 0) fields.Fail("pid must be positive");
  return line;
}

void ParseEnqueued(const Fields& fields, QueueRecord& queue) {
  if (fields.kind() == "enqueue") {
    queue.enqueued.push_back({.item = fields.Get<uint64_t>("item"),
                              .tenant = fields.Text("tenant"),
                              .ttl_ms = fields.Get<int64_t>("ttl_ms"),
                              .exit_code = fields.Get<int>("exit_code"),
                              .fail_until = fields.Get<int>("fail_until"),
                              .mono_ns = fields.Get<int64_t>("mono_ns")});
  } else if (fields.kind() == "enqueue-failed") {
    queue.failed.push_back({.tenant = fields.Text("tenant"),
                            .count = fields.Get<int>("count"),
                            .mono_ns = fields.Get<int64_t>("mono_ns")});
  } else {
    fields.Fail("unknown kind " + fields.kind());
  }
}

nlohmann::json ReadJson(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw RecordError("cannot read " + path);
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& error) {
    throw RecordError(path + ": " + error.what());
  }
}

// The state `baton queue list|dead|stats --json` printed after the drain; nullopt when the
// run did not get that far.
std::optional<FinalState> ReadFinalState(const std::string& dir) {
  const std::string list = dir + "/final-list.json";
  const std::string dead = dir + "/final-dead.json";
  const std::string stats = dir + "/final-stats.json";
  if (!std::filesystem::exists(list) || !std::filesystem::exists(dead) ||
      !std::filesystem::exists(stats)) {
    return std::nullopt;
  }
  FinalState state;
  try {
    for (const nlohmann::json& item : ReadJson(list)) {
      state.listed.emplace_back(item.at("id").get<uint64_t>(), item.at("state").get<std::string>());
    }
    for (const nlohmann::json& item : ReadJson(dead)) {
      state.dead.push_back(item.at("id").get<uint64_t>());
    }
    const nlohmann::json totals = ReadJson(stats).at("totals");
    state.done_total = totals.at("done").get<int64_t>();
    state.dead_total = totals.at("dead").get<int64_t>();
    state.expired_total = totals.at("expired").get<int64_t>();
  } catch (const nlohmann::json::exception& error) {
    throw RecordError(dir + "/final-*.json: not what baton queue --json prints: " + error.what());
  }
  return state;
}

}  // namespace

ItemLine ParseItemLine(std::string_view line) { return ParseItem(Fields("items.log", line)); }

std::string_view Name(ItemKind kind) {
  switch (kind) {
    case ItemKind::kStart:
      return "start";
    case ItemKind::kOverlap:
      return "overlap";
    case ItemKind::kDone:
      return "done";
    case ItemKind::kTerm:
      return "term";
  }
  return "unknown";
}

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
  for (const ItemLine& line : queue.lines) latest = std::max(latest, line.mono_ns.value_or(0));
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
  if (record.run.mode == "queue") {
    ForEachLine(dir, "items.log", /*required=*/false,
                [&](const Fields& fields) { record.queue.lines.push_back(ParseItem(fields)); });
    ForEachLine(dir, "enqueued.log", /*required=*/false,
                [&](const Fields& fields) { ParseEnqueued(fields, record.queue); });
    record.queue.final_state = ReadFinalState(dir);
  }
  return record;
}

}  // namespace baton::chaos
