#include "workers.h"

#include <signal.h>

#include <filesystem>
#include <iostream>

#include "store_rig.h"

namespace baton::chaos {

Workers::Workers(WorkersOptions options, const StoreRig& store)
    : options_(std::move(options)), store_(store) {
  for (int i = 1; i <= options_.workers; ++i) ids_.push_back("w" + std::to_string(i));
  std::filesystem::create_directories(options_.record_dir + "/locks");
}

void Workers::StartAll() {
  for (const std::string& id : ids_) Start(id);
}

void Workers::Start(const std::string& id) {
  const std::string& dir = options_.record_dir;
  const std::string visibility = std::to_string(options_.visibility.count()) + "ms";
  // In a session of its own (setsid execs in place), so a SIGINT meant for this driver's
  // terminal never reaches a worker: only faults end them. Retries wait 100 ms .. 1 s, so
  // items that fail a few times still finish within the drain.
  const std::vector<std::string> argv = {"/usr/bin/setsid",
                                         options_.baton_bin,
                                         "work",
                                         "--store",
                                         store_.UrlFor(id),
                                         "--group",
                                         kGroup,
                                         "--queue",
                                         kQueue,
                                         "--id",
                                         id,
                                         "--concurrency",
                                         std::to_string(options_.concurrency),
                                         "--visibility",
                                         visibility,
                                         "--backoff",
                                         "100ms",
                                         "--backoff-max",
                                         "1s",
                                         "--max-attempts",
                                         "8",
                                         "--poll",
                                         "250ms",
                                         "--",
                                         options_.item_bin,
                                         options_.probe_bin,
                                         "--locks",
                                         dir + "/locks",
                                         "--log",
                                         dir + "/items.log"};
  std::vector<std::string> env;
  if (options_.unsafe_ignore_deadline) env.push_back("BATON_UNSAFE_IGNORE_DEADLINE=1");
  Member& member = members_[id];
  member.process = test_support::Process::Spawn({.argv = argv,
                                                 .extra_env = env,
                                                 .stdout_path = dir + "/" + id + ".log",
                                                 .stderr_path = dir + "/" + id + ".log"});
  member.paused = false;
  member.restart_at.reset();
}

void Workers::ScheduleRestart(const std::string& id, std::chrono::milliseconds after) {
  members_.at(id).restart_at = std::chrono::steady_clock::now() + after;
}

bool Workers::RestartsPending() const {
  for (const auto& [id, member] : members_) {
    if (member.restart_at) return true;
  }
  return false;
}

void Workers::RestartDue() {
  const auto now = std::chrono::steady_clock::now();
  for (const std::string& id : ids_) {
    Member& member = members_.at(id);
    if (!member.process) continue;
    if (!member.restart_at) {
      if (member.paused || member.process->Running()) continue;
      const std::string how = member.process->exit_status()->Describe();
      unexpected_exits_.push_back(id + " (" + how + ")");
      std::cerr << "baton-chaos: worker " << id << " ended by itself (" << how << "); see " << id
                << ".log; restarting it\n";
      Start(id);
      continue;
    }
    if (*member.restart_at > now) continue;
    // A SIGTERMed worker takes up to its grace to release and exit; never two with one id.
    if (member.process->Running()) continue;
    Start(id);
  }
}

std::vector<std::string> Workers::Live() {
  std::vector<std::string> live;
  for (const std::string& id : ids_) {
    Member& member = members_.at(id);
    if (!member.paused && member.process && member.process->Running()) live.push_back(id);
  }
  return live;
}

pid_t Workers::Pid(const std::string& id) const {
  const Member& member = members_.at(id);
  return member.process ? member.process->pid() : -1;
}

std::optional<std::string> Workers::IdOf(pid_t pid) const {
  for (const auto& [id, member] : members_) {
    if (member.process && member.process->pid() == pid) return id;
  }
  return std::nullopt;
}

void Workers::Signal(const std::string& id, int signal) {
  Member& member = members_.at(id);
  if (member.process) member.process->Signal(signal);
}

void Workers::Pause(const std::string& id) {
  Signal(id, SIGSTOP);
  members_.at(id).paused = true;
}

void Workers::Resume(const std::string& id) {
  Signal(id, SIGCONT);
  members_.at(id).paused = false;
}

void Workers::StopAll(std::chrono::milliseconds patience) {
  for (const std::string& id : ids_) {
    if (members_.at(id).paused) Resume(id);
    members_.at(id).restart_at.reset();
    Signal(id, SIGTERM);
  }
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (const std::string& id : ids_) {
    Member& member = members_.at(id);
    if (!member.process) continue;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (!member.process->WaitExit(std::max(left, std::chrono::milliseconds(0)))) {
      std::cerr << "baton-chaos: worker " << id << " did not stop on SIGTERM; killing it\n";
      member.process->Kill();
      member.process->WaitExit(std::chrono::seconds(5));
    }
  }
}

}  // namespace baton::chaos
