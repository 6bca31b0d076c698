#include "queue_checks.h"

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

namespace baton::chaos {
namespace {

// "+1234.5ms" from the run's start, as the lease checks give their times.
std::string At(const QueueFacts& facts, int64_t mono_ns) {
  char text[32];
  std::snprintf(text, sizeof text, "%+.1fms",
                static_cast<double>(mono_ns - facts.record->run.mono_ns) / 1e6);
  return text;
}

std::string Who(const ItemInterval& interval) {
  return "item " + std::to_string(interval.item) + " (tenant " + interval.tenant + ", attempt " +
         std::to_string(interval.attempt) + ", claim token " + std::to_string(interval.token) +
         ", pid " + std::to_string(interval.pid) + ")";
}

std::string Life(const QueueFacts& facts, const ItemInterval& interval) {
  return At(facts, interval.start_ns) + " .. " + At(facts, interval.end_ns) + " (its " +
         interval.end_kind + (interval.end_kind == "start" ? " line, the last sign of it)" : ")");
}

std::string Field(const FaultLine& fault, const std::string& key) {
  for (const auto& [name, value] : fault.details) {
    if (name == key) return value;
  }
  return "";
}

std::string FateName(Fate fate) {
  switch (fate) {
    case Fate::kInQueue:
      return "still in the queue";
    case Fate::kDead:
      return "dead";
    case Fate::kAcknowledged:
      return "acknowledged";
    case Fate::kExpired:
      return "expired";
    case Fate::kLost:
      return "lost";
    case Fate::kUnfinished:
      return "unfinished";
  }
  return "unknown";
}

// Per item: its start lines and whether an attempt ran to a done line that exits 0.
struct Runs {
  int starts = 0;
  bool succeeded = false;
  int64_t first_ns = 0;
};

}  // namespace

std::vector<ItemInterval> ItemIntervals(const Record& record) {
  // The driver's SIGKILLs of running commands, by pid and claim token.
  std::map<std::pair<pid_t, uint64_t>, int64_t> kills;
  for (const FaultLine& fault : record.faults) {
    if (fault.kind != "kill-item") continue;
    try {
      kills[{std::stoi(Field(fault, "pid")), std::stoull(Field(fault, "token"))}] = fault.mono_ns;
    } catch (const std::exception&) {
      throw RecordError(record.dir + "/faults.log: a kill-item fault without pid and token");
    }
  }
  std::vector<ItemInterval> intervals;
  std::map<std::pair<pid_t, uint64_t>, size_t> open;  // Its interval without an end line yet.
  // Intervals whose command wrote its end line: a SIGTERM may still reach it before it exits
  // (its worker stops it at the claim's deadline just as it finishes), and its handler then
  // writes a term line after the end line.
  std::map<std::pair<pid_t, uint64_t>, size_t> ended;
  for (const ItemLine& line : record.queue.lines) {
    const std::pair<pid_t, uint64_t> key{line.pid, line.token};
    if (const auto late = ended.find(key); line.kind == ItemKind::kTerm && late != ended.end() &&
                                           intervals[late->second].item == line.item) {
      intervals[late->second].terminated = true;
      ended.erase(late);
      continue;
    }
    if (line.kind == ItemKind::kStart) {
      open[key] = intervals.size();
      intervals.push_back({.item = line.item,
                           .tenant = line.tenant,
                           .attempt = line.attempt,
                           .token = line.token,
                           .pid = line.pid,
                           .start_ns = *line.mono_ns,
                           .end_ns = *line.mono_ns});
      continue;
    }
    const auto it = open.find(key);
    if (it == open.end() || intervals[it->second].item != line.item) {
      throw RecordError(record.dir + "/items.log: pid " + std::to_string(line.pid) + " (item " +
                        std::to_string(line.item) + ", claim token " + std::to_string(line.token) +
                        ") wrote \"" + std::string(Name(line.kind)) +
                        "\" without a start line before it");
    }
    ItemInterval& interval = intervals[it->second];
    if (line.kind == ItemKind::kTerm) {
      interval.terminated = true;
    } else {
      if (*line.mono_ns >= interval.end_ns) {
        interval.end_ns = *line.mono_ns;
        interval.end_kind = Name(line.kind);
      }
      ended[key] = it->second;
    }
    open.erase(it);  // The probe exits after any of these lines.
  }
  // A command that wrote no end line was killed; the driver's SIGKILL found it running.
  for (const auto& [key, index] : open) {
    const auto kill = kills.find(key);
    ItemInterval& interval = intervals[index];
    if (kill != kills.end() && kill->second > interval.end_ns) {
      interval.end_ns = kill->second;
      interval.end_kind = "kill";
    }
  }
  std::sort(intervals.begin(), intervals.end(), [](const ItemInterval& a, const ItemInterval& b) {
    return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.pid < b.pid;
  });
  return intervals;
}

QueueFacts JudgeQueue(const Record& record) {
  QueueFacts facts;
  facts.record = &record;
  facts.intervals = ItemIntervals(record);
  QueueAccount& account = facts.account;
  const QueueRecord& queue = record.queue;

  std::unordered_map<uint64_t, const EnqueuedItem*> enqueued;
  for (const EnqueuedItem& item : queue.enqueued) enqueued[item.item] = &item;
  account.items = static_cast<int>(enqueued.size());
  account.failed_enqueues = static_cast<int>(queue.failed.size());

  std::map<uint64_t, Runs> runs;
  for (const ItemLine& line : queue.lines) {
    Runs& item_runs = runs[line.item];
    if (line.kind == ItemKind::kStart) {
      if (item_runs.starts++ == 0) item_runs.first_ns = *line.mono_ns;
      ++account.attempts;
    } else if (line.kind == ItemKind::kDone) {
      ++account.done_lines;
      const auto it = enqueued.find(line.item);
      // An item no enqueue printed ran the default work, which exits 0.
      if (it == enqueued.end() || it->second->Succeeds(line.attempt)) item_runs.succeeded = true;
    }
  }
  std::set<uint64_t> all;
  for (const auto& [id, item] : enqueued) all.insert(id);
  for (const auto& [id, item_runs] : runs) all.insert(id);
  if (queue.final_state) {
    for (const auto& [id, state] : queue.final_state->listed) all.insert(id);
    for (uint64_t id : queue.final_state->dead) all.insert(id);
  }
  for (uint64_t id : all) {
    if (!enqueued.count(id)) ++account.unknown;
  }
  if (!queue.final_state) return facts;

  const FinalState& final_state = *queue.final_state;
  std::set<uint64_t> in_queue;
  for (const auto& [id, state] : final_state.listed) {
    if (state != "dead") in_queue.insert(id);
  }
  const std::set<uint64_t> dead(final_state.dead.begin(), final_state.dead.end());
  for (uint64_t id : all) {
    const auto it = enqueued.find(id);
    const Runs& item_runs = runs[id];
    Fate fate;
    if (in_queue.count(id)) {
      fate = Fate::kInQueue;
    } else if (dead.count(id)) {
      fate = Fate::kDead;
    } else if (item_runs.succeeded) {
      fate = Fate::kAcknowledged;
    } else if (item_runs.starts == 0 && (it == enqueued.end() || it->second->ttl_ms > 0)) {
      fate = Fate::kExpired;  // An unknown item is only in the record if it ran, so not here.
    } else {
      fate = item_runs.starts == 0 ? Fate::kLost : Fate::kUnfinished;
    }
    facts.fates[id] = fate;
    if (it == enqueued.end()) continue;  // Counted as unknown, not in the account.
    switch (fate) {
      case Fate::kInQueue:
        ++account.in_queue;
        break;
      case Fate::kDead:
        ++account.dead;
        if (it->second->NeverSucceeds()) {
          ++account.dead_poison;
        } else {
          account.dead_could_succeed.push_back(id);
        }
        break;
      case Fate::kAcknowledged:
        ++account.acknowledged;
        break;
      case Fate::kExpired:
        ++account.expired;
        break;
      case Fate::kLost:
      case Fate::kUnfinished:
        ++account.lost;
        break;
    }
  }
  return facts;
}

std::vector<Violation> ItemLockOverlaps(const QueueFacts& facts) {
  std::vector<Violation> found;
  for (const ItemLine& line : facts.record->queue.lines) {
    if (line.kind != ItemKind::kOverlap) continue;
    std::string holders;
    const ItemInterval* latest_before = nullptr;  // Whose inferred end may be too early.
    for (const ItemInterval& other : facts.intervals) {
      if (other.tenant != line.tenant || other.pid == line.pid) continue;
      if (other.start_ns > *line.mono_ns) continue;
      if (other.end_ns >= *line.mono_ns) holders += (holders.empty() ? "" : ", ") + Who(other);
      latest_before = &other;
    }
    if (holders.empty() && latest_before != nullptr) {
      holders = Who(*latest_before) + ", which ran " + Life(facts, *latest_before) +
                " at least, the tenant's latest command before";
    }
    const ItemInterval self{.item = line.item,
                            .tenant = line.tenant,
                            .attempt = line.attempt,
                            .token = line.token,
                            .pid = line.pid};
    found.push_back({"", *line.mono_ns,
                     Who(self) + " found its tenant's lock held at " + At(facts, *line.mono_ns) +
                         ": two items of one tenant ran at once" +
                         (holders.empty() ? "" : "; held by " + holders)});
  }
  return found;
}

std::vector<Violation> ItemTimeOverlaps(const QueueFacts& facts) {
  std::vector<Violation> found;
  // Per tenant, the interval reaching furthest so far; intervals come ordered by start.
  std::map<std::string, const ItemInterval*> furthest;
  for (const ItemInterval& interval : facts.intervals) {
    const ItemInterval*& before = furthest[interval.tenant];
    if (before != nullptr && interval.start_ns < before->end_ns) {
      found.push_back({"", interval.start_ns,
                       Who(interval) + " started at " + At(facts, interval.start_ns) + " while " +
                           Who(*before) + " ran " + Life(facts, *before)});
    }
    if (before == nullptr || interval.end_ns > before->end_ns) before = &interval;
  }
  return found;
}

std::vector<Violation> ClaimTokenOrder(const QueueFacts& facts) {
  std::vector<Violation> found;
  std::map<uint64_t, const ItemInterval*> previous;  // Per item, its attempt before.
  for (const ItemInterval& interval : facts.intervals) {
    const ItemInterval*& before = previous[interval.item];
    if (before != nullptr && interval.token <= before->token) {
      found.push_back({"", interval.start_ns,
                       Who(interval) + " started at " + At(facts, interval.start_ns) +
                           " with a claim token not above " + std::to_string(before->token) +
                           " of its attempt started at " + At(facts, before->start_ns)});
    }
    before = &interval;
  }
  return found;
}

std::vector<Violation> Undrained(const QueueFacts& facts) {
  const QueueRecord& queue = facts.record->queue;
  if (!queue.final_state) {
    return {{"", facts.record->EndNs(),
             "the record has no final state (final-*.json): the run ended before the drain"}};
  }
  std::vector<Violation> found;
  for (const auto& [id, state] : queue.final_state->listed) {
    if (state == "dead") continue;
    found.push_back({"", facts.record->EndNs(),
                     "item " + std::to_string(id) + " is still " + state +
                         " after the drain and the workers' stop"});
  }
  return found;
}

namespace {

std::vector<Violation> ItemsWithFate(const QueueFacts& facts, Fate wanted, const std::string& why) {
  std::unordered_map<uint64_t, const EnqueuedItem*> enqueued;
  for (const EnqueuedItem& item : facts.record->queue.enqueued) enqueued[item.item] = &item;
  std::vector<Violation> found;
  for (const auto& [id, fate] : facts.fates) {
    if (fate != wanted) continue;
    const auto it = enqueued.find(id);
    const int64_t at = it != enqueued.end() ? it->second->mono_ns : facts.record->EndNs();
    std::string what = "item " + std::to_string(id);
    if (it != enqueued.end()) {
      what += " (tenant " + it->second->tenant + ", enqueued at " + At(facts, at) + ")";
    }
    found.push_back({"", at, what + why});
  }
  return found;
}

}  // namespace

std::vector<Violation> LostItems(const QueueFacts& facts) {
  return ItemsWithFate(facts, Fate::kLost,
                       " left the queue without ever running, and had no time-to-live to "
                       "expire by: it is neither pending, running nor dead");
}

std::vector<Violation> UnfinishedItems(const QueueFacts& facts) {
  return ItemsWithFate(facts, Fate::kUnfinished,
                       " left the queue as if acknowledged, but no attempt of it ran to a "
                       "done line that exits 0");
}

std::vector<Violation> StoreTotals(const QueueFacts& facts) {
  const QueueRecord& queue = facts.record->queue;
  if (!queue.final_state) return {};
  const FinalState& totals = *queue.final_state;
  int acknowledged = 0;  // Unknown items included: the store counts them too.
  int expired = 0;
  for (const auto& [id, fate] : facts.fates) {
    if (fate == Fate::kAcknowledged) ++acknowledged;
    if (fate == Fate::kExpired) ++expired;
  }
  // Items of enqueues whose outcome is unknown that never showed up could only have expired.
  int slack = -facts.account.unknown;
  for (const FailedEnqueue& failed : queue.failed) slack += failed.count;
  slack = std::max(slack, 0);

  std::vector<Violation> found;
  const int64_t at = facts.record->EndNs();
  if (totals.done_total != acknowledged) {
    found.push_back({"", at,
                     "the store counts " + std::to_string(totals.done_total) +
                         " items done, but the record shows " + std::to_string(acknowledged) +
                         " acknowledged (gone from the queue after a successful run)"});
  }
  if (totals.expired_total < expired || totals.expired_total > expired + slack) {
    found.push_back({"", at,
                     "the store counts " + std::to_string(totals.expired_total) +
                         " items expired, but " + std::to_string(expired) +
                         " items with a time-to-live never ran and are gone" +
                         (slack > 0 ? " (and up to " + std::to_string(slack) +
                                          " unseen items of failed enqueues may have expired)"
                                    : "")});
  }
  if (totals.dead_total != static_cast<int64_t>(totals.dead.size())) {
    found.push_back({"", at,
                     "the store counts " + std::to_string(totals.dead_total) +
                         " items dead, but its dead letters list " +
                         std::to_string(totals.dead.size())});
  }
  return found;
}

std::vector<Violation> UnknownItems(const QueueFacts& facts) {
  const QueueRecord& queue = facts.record->queue;
  std::unordered_map<uint64_t, std::string> enqueued_tenant;
  for (const EnqueuedItem& item : queue.enqueued) enqueued_tenant[item.item] = item.tenant;
  // Unknown items are allowed per tenant up to what the failed enqueues of that tenant added.
  std::map<std::string, int> allowed;
  for (const FailedEnqueue& failed : queue.failed) allowed[failed.tenant] += failed.count;

  std::vector<Violation> found;
  std::set<uint64_t> judged;
  for (const ItemInterval& interval : facts.intervals) {
    const auto it = enqueued_tenant.find(interval.item);
    if (it != enqueued_tenant.end()) {
      if (it->second != interval.tenant) {
        found.push_back({"", interval.start_ns,
                         Who(interval) + " ran for another tenant than the " + it->second +
                             " it was enqueued for"});
      }
      continue;
    }
    if (!judged.insert(interval.item).second) continue;
    if (allowed[interval.tenant]-- > 0) continue;
    found.push_back({"", interval.start_ns,
                     Who(interval) + " ran, but no enqueue printed its id (nor failed for its "
                                     "tenant)"});
  }
  for (const auto& [id, fate] : facts.fates) {
    if (enqueued_tenant.count(id) || judged.count(id)) continue;
    // Only in the final state, never run: without its tenant it is judged against all.
    int left = 0;
    for (const auto& [tenant, count] : allowed) left += std::max(count, 0);
    if (left > 0) {
      for (auto& [tenant, count] : allowed) {
        if (count > 0) {
          --count;
          break;
        }
      }
      continue;
    }
    found.push_back({"", facts.record->EndNs(),
                     "item " + std::to_string(id) + " (" + FateName(fate) +
                         ") is in the store's final state, but no enqueue printed its id"});
  }
  return found;
}

}  // namespace baton::chaos
