#include "child_supervisor.h"

#include <spdlog/spdlog.h>

extern char** environ;

namespace baton::cli {

std::vector<std::string> InheritedEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    if (entry.rfind("BATON_", 0) == 0) continue;
    env.push_back(std::move(entry));
  }
  return env;
}

ChildSupervisor::ChildSupervisor(ChildCommands commands, EventQueue<RunEvent>& events)
    : commands_(std::move(commands)), events_(events) {}

ChildSupervisor::~ChildSupervisor() { StopAll(); }

std::optional<ChildSupervisor::Running> ChildSupervisor::Start(std::vector<std::string> argv,
                                                               std::vector<std::string> env,
                                                               TimePoint deadline, bool active,
                                                               uint64_t token) {
  guardian::SpawnOptions options;
  options.argv = std::move(argv);
  options.env = std::move(env);
  options.deadline = deadline;
  options.grace = commands_.grace;
  auto spawned = guardian::GuardedChild::Spawn(options);
  if (!spawned) {
    spdlog::error("cannot start the {} command: {}", active ? "active" : "passive",
                  spawned.error().message());
    RunEvent event;
    event.kind = RunEvent::Kind::kChildExited;
    event.exit = {guardian::ExitKind::kSpawnFailed, 127, 0};
    event.active_child = active;
    event.token = token;
    events_.Push(event);
    return std::nullopt;
  }
  std::shared_ptr<guardian::GuardedChild> child = std::move(spawned).value();
  const TimePoint started = BootClock::now();
  Running running;
  running.child = child;
  running.waiter = std::thread([this, child, active, token, started] {
    RunEvent event;
    event.kind = RunEvent::Kind::kChildExited;
    event.exit = child->Wait().value_or(guardian::ChildExit{guardian::ExitKind::kTerminated});
    event.active_child = active;
    event.token = token;
    event.lived = BootClock::now() - started;
    events_.Push(event);
  });
  return running;
}

void ChildSupervisor::Stop(std::optional<Running>& running) {
  if (!running) return;
  running->child->Terminate(commands_.grace);
  running->waiter.join();
  running.reset();
}

void ChildSupervisor::OnActive(uint64_t token, TimePoint deadline) {
  std::lock_guard lock(mu_);
  Stop(passive_);
  Stop(active_);
  std::vector<std::string> env = commands_.base_env;
  env.push_back("BATON_GROUP=" + commands_.group);
  env.push_back("BATON_INSTANCE=" + commands_.instance_id);
  env.push_back("BATON_TOKEN=" + std::to_string(token));
  active_ = Start(commands_.active, std::move(env), deadline, true, token);
  if (active_) {
    spdlog::info("started the command (pid {}) with token {}", active_->child->child_pid(), token);
  }
}

void ChildSupervisor::OnRenewed(uint64_t /*token*/, TimePoint deadline) {
  std::lock_guard lock(mu_);
  if (active_) active_->child->SetDeadline(deadline);
}

void ChildSupervisor::OnPassive(PassiveReason reason) {
  std::lock_guard lock(mu_);
  if (active_) {
    spdlog::info("stopping the command (pid {}): {}", active_->child->child_pid(),
                 ToString(reason));
    Stop(active_);
  }
  if (reason != PassiveReason::kStopping) StartPassiveLocked();
}

void ChildSupervisor::StartPassive() {
  std::lock_guard lock(mu_);
  StartPassiveLocked();
}

void ChildSupervisor::StartPassiveLocked() {
  if (commands_.passive && !passive_ && !active_) {
    std::vector<std::string> env = commands_.base_env;
    env.push_back("BATON_GROUP=" + commands_.group);
    env.push_back("BATON_INSTANCE=" + commands_.instance_id);
    passive_ =
        Start({"/bin/sh", "-c", *commands_.passive}, std::move(env), TimePoint::max(), false, 0);
  }
}

void ChildSupervisor::StopAll() {
  std::lock_guard lock(mu_);
  Stop(active_);
  Stop(passive_);
}

}  // namespace baton::cli
