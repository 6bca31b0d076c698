#include "group.h"

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <stdexcept>

#include "store_rig.h"

namespace baton::chaos {
namespace {

constexpr const char* kLibFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
// What the probe needs to know nothing of: the clock-step instance's preload stays with baton.
constexpr const char* kFaketimeVariables[] = {"LD_PRELOAD", "FAKETIME_TIMESTAMP_FILE",
                                              "FAKETIME_NO_CACHE", "FAKETIME_DONT_FAKE_MONOTONIC"};

}  // namespace

Group::Group(GroupOptions options, const StoreRig& store)
    : options_(std::move(options)),
      store_(store),
      offset_file_(options_.record_dir + "/clock-offset"),
      tail_(options_.record_dir + "/probes.log") {
  for (int i = 1; i <= options_.instances; ++i) ids_.push_back("i" + std::to_string(i));
  SetClockOffset("+0");
}

void Group::SetClockOffset(const std::string& offset) const {
  // Written whole under another name and renamed: libfaketime re-reads it at every call.
  const std::string tmp = offset_file_ + ".tmp";
  std::ofstream(tmp) << offset << "\n";
  if (rename(tmp.c_str(), offset_file_.c_str()) != 0) {
    throw std::runtime_error("cannot write " + offset_file_);
  }
}

void Group::StartAll() {
  for (const std::string& id : ids_) Start(id);
}

void Group::Start(const std::string& id) {
  // In a session of its own (setsid execs in place: the pid stays baton's), so a SIGINT or
  // SIGHUP meant for this driver's terminal never reaches an instance: only faults end them.
  std::vector<std::string> argv = {"/usr/bin/setsid",
                                   options_.baton_bin,
                                   "run",
                                   "--store",
                                   store_.UrlFor(id),
                                   "--group",
                                   "chaos",
                                   "--id",
                                   id,
                                   "--ttl",
                                   std::to_string(options_.ttl.count()) + "ms",
                                   "--",
                                   "/usr/bin/env"};
  for (const char* name : kFaketimeVariables) argv.insert(argv.end(), {"-u", name});
  const std::string& dir = options_.record_dir;
  argv.insert(argv.end(), {options_.probe_bin, "--lock", dir + "/probe.lock", "--log",
                           dir + "/probes.log", "--alive-every", "10ms", "--print-every", "3600s"});

  std::vector<std::string> env;
  if (id == clock_instance()) {
    env = {std::string("LD_PRELOAD=") + kLibFaketime, "FAKETIME_TIMESTAMP_FILE=" + offset_file_,
           "FAKETIME_NO_CACHE=1", "FAKETIME_DONT_FAKE_MONOTONIC=1"};
  }
  if (options_.unsafe_ignore_deadline) env.push_back("BATON_UNSAFE_IGNORE_DEADLINE=1");

  Member& member = members_[id];
  member.process = test_support::Process::Spawn({.argv = argv,
                                                 .extra_env = env,
                                                 .stdout_path = dir + "/" + id + ".log",
                                                 .stderr_path = dir + "/" + id + ".log"});
  member.paused = false;
  member.restart_at.reset();
}

void Group::ScheduleRestart(const std::string& id, std::chrono::milliseconds after) {
  members_.at(id).restart_at = std::chrono::steady_clock::now() + after;
}

void Group::RestartDue() {
  const auto now = std::chrono::steady_clock::now();
  for (const std::string& id : ids_) {
    Member& member = members_.at(id);
    if (!member.process) continue;
    if (!member.restart_at) {
      if (member.paused || member.process->Running()) continue;
      const std::string how = member.process->exit_status()->Describe();
      unexpected_exits_.push_back(id + " (" + how + ")");
      std::cerr << "baton-chaos: " << id << " ended by itself (" << how << "); see " << id
                << ".log; restarting it\n";
      Start(id);
      continue;
    }
    if (*member.restart_at > now) continue;
    // A SIGTERMed baton takes a moment to hand over and exit; never run two with one id.
    if (member.process->Running()) continue;
    Start(id);
  }
}

std::vector<std::string> Group::Passives() {
  const std::optional<LiveChild> active = Active();
  std::vector<std::string> passives;
  for (const std::string& id : ids_) {
    if (active && active->instance == id) continue;
    if (!members_.at(id).paused && Running(id)) passives.push_back(id);
  }
  return passives;
}

pid_t Group::BatonPid(const std::string& id) const {
  const Member& member = members_.at(id);
  return member.process ? member.process->pid() : -1;
}

bool Group::Running(const std::string& id) {
  Member& member = members_.at(id);
  return member.process && member.process->Running();
}

void Group::Signal(const std::string& id, int signal) {
  Member& member = members_.at(id);
  if (member.process) member.process->Signal(signal);
}

void Group::Pause(const std::string& id) {
  Signal(id, SIGSTOP);
  members_.at(id).paused = true;
}

void Group::Resume(const std::string& id) {
  Signal(id, SIGCONT);
  members_.at(id).paused = false;
}

void Group::StopAll(std::chrono::milliseconds patience) {
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
      member.process->Kill();
      member.process->WaitExit(std::chrono::seconds(5));
    }
  }
}

}  // namespace baton::chaos
