#include "page_model.h"

#include <algorithm>
#include <ctime>

namespace baton::web {
namespace {

Result<GroupSummary> ReadSummary(Store& store, Queue* queue, const std::string& name) {
  GroupSummary summary;
  summary.name = name;
  Result<GroupSnapshot> snapshot = store.Snapshot(name);
  if (!snapshot) return snapshot.error();
  summary.snapshot = std::move(*snapshot);
  Result<std::vector<Takeover>> last = store.Takeovers({.group = name}, 1);
  if (!last) return last.error();
  if (!last->empty()) summary.last_takeover = last->front();
  if (queue == nullptr) return summary;
  Result<std::vector<std::string>> queues = queue->QueueNames(name);
  if (!queues) return queues.error();
  for (const std::string& q : *queues) {
    Result<QueueStats> stats = queue->Stats({.group = name, .queue = q});
    if (!stats) return stats.error();
    stats->tenants.clear();
    summary.queues.push_back(QueueSummary{.name = q, .stats = std::move(*stats)});
  }
  return summary;
}

// The store's groups and the queues' groups, sorted, once each.
Result<std::vector<std::string>> AllGroups(Store& store, Queue* queue) {
  Result<std::vector<std::string>> names = store.Groups();
  if (!names) return names.error();
  if (queue != nullptr) {
    Result<std::vector<std::string>> queued = queue->QueueGroups();
    if (!queued) return queued.error();
    names->insert(names->end(), queued->begin(), queued->end());
    std::sort(names->begin(), names->end());
    names->erase(std::unique(names->begin(), names->end()), names->end());
  }
  return names;
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

Result<Overview> ReadOverview(Store& store, Queue* queue) {
  Overview overview;
  overview.store = store.Describe();
  overview.now = std::chrono::system_clock::now();
  Result<std::vector<std::string>> names = AllGroups(store, queue);
  if (!names) return names.error();
  for (const std::string& name : *names) {
    Result<GroupSummary> summary = ReadSummary(store, queue, name);
    if (!summary) return summary.error();
    overview.groups.push_back(std::move(*summary));
  }
  return overview;
}

Result<std::optional<GroupDetail>> ReadGroup(Store& store, Queue* queue, const std::string& name) {
  Result<std::vector<std::string>> names = AllGroups(store, queue);
  if (!names) return names.error();
  if (std::find(names->begin(), names->end(), name) == names->end()) {
    return std::optional<GroupDetail>();
  }
  GroupDetail detail;
  detail.store = store.Describe();
  detail.now = std::chrono::system_clock::now();
  Result<GroupSummary> summary = ReadSummary(store, queue, name);
  if (!summary) return summary.error();
  detail.group = std::move(*summary);
  Result<std::vector<Takeover>> takeovers = store.Takeovers({.group = name}, kTakeoversShown);
  if (!takeovers) return takeovers.error();
  detail.takeovers = std::move(*takeovers);
  return std::optional<GroupDetail>(std::move(detail));
}

Result<std::optional<QueueDetail>> ReadQueue(Queue& queue, const std::string& group,
                                             const std::string& name) {
  Result<std::vector<std::string>> names = queue.QueueNames(group);
  if (!names) return names.error();
  if (std::find(names->begin(), names->end(), name) == names->end()) {
    return std::optional<QueueDetail>();
  }
  const QueueKey key{.group = group, .queue = name};
  QueueDetail detail;
  detail.store = queue.Describe();
  detail.now = std::chrono::system_clock::now();
  detail.group = group;
  Result<QueueStats> stats = queue.Stats(key);
  if (!stats) return stats.error();
  stats->tenants.clear();
  detail.queue = QueueSummary{.name = name, .stats = std::move(*stats)};
  Result<std::vector<ItemView>> running = queue.List(key, ItemState::kRunning, kItemsShown);
  if (!running) return running.error();
  detail.running = std::move(*running);
  Result<std::vector<ItemView>> next = queue.List(key, ItemState::kPending, kItemsShown);
  if (!next) return next.error();
  detail.next = std::move(*next);
  Result<std::vector<ItemView>> dead = queue.DeadLetters(key, kItemsShown);
  if (!dead) return dead.error();
  detail.dead = std::move(*dead);
  Result<std::vector<MinuteCounts>> minutes = queue.Throughput(key, kMinutesShown);
  if (!minutes) return minutes.error();
  detail.minutes = std::move(*minutes);
  return std::optional<QueueDetail>(std::move(detail));
}

}  // namespace baton::web
