// What `baton status` shows: the group's lease and members, and its queues' depths.
#include "status_view.h"

#include <cstdio>

#include "baton/elector.h"
#include "baton/timing.h"
#include "output.h"

namespace baton::cli {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

// The lease decides who is active; a member row's own role is one heartbeat behind it.
const char* RoleOf(const Member& m, const LeaseView& lease) {
  return !lease.free() && m.info.holder == lease.holder ? "active" : "passive";
}

nlohmann::json LeaseJson(const std::string& group, const GroupSnapshot& snapshot) {
  const LeaseView& lease = snapshot.lease;
  const bool active = !lease.free();
  nlohmann::json members = nlohmann::json::array();
  nlohmann::json active_pid = nullptr;
  for (const Member& m : snapshot.members) {
    if (active && m.info.holder == lease.holder) active_pid = m.info.pid;
    members.push_back({{"id", m.info.id},
                       {"host", m.info.host},
                       {"pid", m.info.pid},
                       {"version", m.info.version},
                       {"role", RoleOf(m, lease)},
                       {"started", Iso(m.started)},
                       {"last_heartbeat_ms_ago", Ms(m.since_heartbeat)},
                       {"expires_in_ms", Ms(m.expires_in)}});
  }
  return {{"group", group},
          {"active", active ? nlohmann::json(HolderId(lease.holder)) : nlohmann::json(nullptr)},
          // The active baton's process id on its host (null when none is active).
          {"active_pid", active_pid},
          {"lease",
           {{"holder", active ? nlohmann::json(HolderId(lease.holder)) : nlohmann::json(nullptr)},
            {"token", lease.token},
            {"renewals", lease.renewals},
            {"remaining_ms", active ? Ms(lease.remaining) : 0}}},
          {"members", members}};
}

void PrintLease(const std::string& store, const std::string& group, const GroupSnapshot& snapshot) {
  const LeaseView& lease = snapshot.lease;
  std::printf("group %s on %s\n", group.c_str(), store.c_str());
  if (lease.free()) {
    std::printf("active: none (last token %llu)\n", static_cast<unsigned long long>(lease.token));
  } else {
    std::printf("active: %s  token %llu  renewals %llu  lease expires in %s\n",
                HolderId(lease.holder).c_str(), static_cast<unsigned long long>(lease.token),
                static_cast<unsigned long long>(lease.renewals),
                FormatDuration(duration_cast<milliseconds>(lease.remaining)).c_str());
  }
  std::printf("\n%-36s %-8s %-16s %-8s %-8s %-21s %-10s %s\n", "ID", "ROLE", "HOST", "PID",
              "VERSION", "STARTED", "HEARTBEAT", "EXPIRES IN");
  for (const Member& m : snapshot.members) {
    std::printf("%-36s %-8s %-16s %-8lld %-8s %-21s %-10s %s\n", m.info.id.c_str(),
                RoleOf(m, lease), m.info.host.c_str(), static_cast<long long>(m.info.pid),
                m.info.version.c_str(), Iso(m.started).c_str(),
                (FormatDuration(duration_cast<milliseconds>(m.since_heartbeat)) + " ago").c_str(),
                FormatDuration(duration_cast<milliseconds>(m.expires_in)).c_str());
  }
  if (snapshot.members.empty()) std::printf("(no members)\n");
}

nlohmann::json QueueJson(const QueueDepth& queue) {
  const QueueStats& s = queue.stats;
  return {
      {"queue", queue.name},
      {"paused", s.paused},
      {"depth",
       {{"pending", s.pending}, {"waiting", s.waiting}, {"running", s.running}, {"dead", s.dead}}},
      {"tenants_pending", s.tenants_pending},
      {"oldest_pending_ms",
       s.oldest_pending_age ? nlohmann::json(Ms(*s.oldest_pending_age)) : nlohmann::json(nullptr)},
      {"totals",
       {{"done", s.done_total},
        {"failed", s.failed_total},
        {"dead", s.dead_total},
        {"expired", s.expired_total}}}};
}

void PrintQueues(const StatusView& view) {
  if (view.queues.empty()) return;
  std::printf("\n%-24s %8s %8s %8s %8s %8s %10s %10s\n", "QUEUE", "PENDING", "WAITING", "RUNNING",
              "DEAD", "TENANTS", "OLDEST", "DONE");
  for (const QueueDepth& q : view.queues) {
    const QueueStats& s = q.stats;
    const std::string oldest =
        s.oldest_pending_age ? FormatDuration(duration_cast<milliseconds>(*s.oldest_pending_age))
                             : "-";
    std::printf("%-24s %8lld %8lld %8lld %8lld %8lld %10s %10lld%s\n", q.name.c_str(),
                static_cast<long long>(s.pending), static_cast<long long>(s.waiting),
                static_cast<long long>(s.running), static_cast<long long>(s.dead),
                static_cast<long long>(s.tenants_pending), oldest.c_str(),
                static_cast<long long>(s.done_total), s.paused ? "  (paused)" : "");
  }
  if (!view.queues_error.empty()) std::printf("queues: %s\n", view.queues_error.c_str());
}

}  // namespace

nlohmann::json ToJson(const std::string& group, const StatusView& view) {
  nlohmann::json out = LeaseJson(group, view.snapshot);
  // Where to fence the user's own writes to an etcd store (compare its create_revision).
  if (!view.fencing_key.empty()) out["lease"]["key"] = view.fencing_key;
  nlohmann::json queues = nlohmann::json::array();
  for (const QueueDepth& q : view.queues) queues.push_back(QueueJson(q));
  out["queues"] = queues;
  return out;
}

void PrintTable(const std::string& store, const std::string& group, const StatusView& view) {
  PrintLease(store, group, view.snapshot);
  if (!view.fencing_key.empty()) {
    std::printf("\nfence your own writes with create(\"%s\") = \"TOKEN\" (etcdctl txn)\n",
                view.fencing_key.c_str());
  }
  PrintQueues(view);
}

Result<StatusView> ReadStatus(Store& store, Queue* queue, const std::string& group) {
  Result<GroupSnapshot> snapshot = store.Snapshot(group);
  if (!snapshot) return snapshot.error();
  StatusView view;
  view.snapshot = std::move(*snapshot);
  view.fencing_key = store.FencingKey({.group = group});
  if (queue == nullptr) return view;
  // The queues are a second read: one that fails is said beside the lease, not instead of it.
  Result<std::vector<std::string>> names = queue->QueueNames(group);
  if (!names) {
    view.queues_error = names.error().message();
    return view;
  }
  for (const std::string& name : *names) {
    Result<QueueStats> stats = queue->Stats({.group = group, .queue = name});
    if (!stats) {
      view.queues_error = stats.error().message();
      break;
    }
    stats->tenants.clear();  // Per-tenant lines are `baton queue stats`'s.
    view.queues.push_back(QueueDepth{.name = name, .stats = std::move(*stats)});
  }
  return view;
}

}  // namespace baton::cli
