#include "page_model.h"

#include <algorithm>
#include <ctime>

namespace baton::web {
namespace {

Result<GroupSummary> ReadSummary(Store& store, const std::string& name) {
  GroupSummary summary;
  summary.name = name;
  Result<GroupSnapshot> snapshot = store.Snapshot(name);
  if (!snapshot) return snapshot.error();
  summary.snapshot = std::move(*snapshot);
  Result<std::vector<Takeover>> last = store.Takeovers({.group = name}, 1);
  if (!last) return last.error();
  if (!last->empty()) summary.last_takeover = last->front();
  return summary;
}

}  // namespace

std::string FormatUtc(std::chrono::system_clock::time_point at, const char* format) {
  const std::time_t t = std::chrono::system_clock::to_time_t(at);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[64];
  std::strftime(text, sizeof text, format, &tm);
  return text;
}

Result<Overview> ReadOverview(Store& store) {
  Overview overview;
  overview.store = store.Describe();
  overview.now = std::chrono::system_clock::now();
  Result<std::vector<std::string>> names = store.Groups();
  if (!names) return names.error();
  for (const std::string& name : *names) {
    Result<GroupSummary> summary = ReadSummary(store, name);
    if (!summary) return summary.error();
    overview.groups.push_back(std::move(*summary));
  }
  return overview;
}

Result<std::optional<GroupDetail>> ReadGroup(Store& store, const std::string& name) {
  Result<std::vector<std::string>> names = store.Groups();
  if (!names) return names.error();
  if (std::find(names->begin(), names->end(), name) == names->end()) {
    return std::optional<GroupDetail>();
  }
  GroupDetail detail;
  detail.store = store.Describe();
  detail.now = std::chrono::system_clock::now();
  Result<GroupSummary> summary = ReadSummary(store, name);
  if (!summary) return summary.error();
  detail.group = std::move(*summary);
  Result<std::vector<Takeover>> takeovers = store.Takeovers({.group = name}, kTakeoversShown);
  if (!takeovers) return takeovers.error();
  detail.takeovers = std::move(*takeovers);
  return std::optional<GroupDetail>(std::move(detail));
}

}  // namespace baton::web
