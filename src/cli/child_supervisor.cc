#include "child_supervisor.h"

#include <signal.h>

#include <spdlog/spdlog.h>

#include "systemd/notify_socket.h"

extern char** environ;

namespace baton::cli {

std::vector<std::string> InheritedEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string entry = *e;
    if (entry.rfind("BATON_", 0) == 0 || systemd::IsNotifyVariable(entry)) continue;
    env.push_back(std::move(entry));
  }
  return env;
}

std::vector<std::string> ChildSupervisor::EnvironmentFor(std::optional<uint64_t> token) const {
  std::vector<std::string> env = commands_.base_env;
  env.push_back("BATON_GROUP=" + commands_.group);
  env.push_back("BATON_INSTANCE=" + commands_.instance_id);
  if (token) env.push_back("BATON_TOKEN=" + std::to_string(*token));
  return env;
}

ChildSupervisor::ChildSupervisor(ChildCommands commands, EventQueue<RunEvent>& events)
    : commands_(std::move(commands)), events_(events) {}

ChildSupervisor::~ChildSupervisor() { StopAll(); }

guardian::SpawnOptions ChildSupervisor::SpawnOptionsFor(std::vector<std::string> argv,
                                                        std::vector<std::string> env,
                                                        TimePoint deadline) const {
  guardian::SpawnOptions options;
  options.argv = std::move(argv);
  options.env = std::move(env);
  options.deadline = deadline;
  options.grace = commands_.grace;
  return options;
}

void ChildSupervisor::PrepareActiveLocked() {
  if (warm_) return;
  auto prepared = guardian::GuardedChild::Prepare(SpawnOptionsFor(commands_.active, {}, {}));
  if (prepared) {
    warm_ = std::move(prepared).value();
  } else {
    spdlog::warn("cannot prepare a guardian ahead of time: {}", prepared.error().message());
  }
}

Result<std::shared_ptr<guardian::GuardedChild>> ChildSupervisor::StartActiveLocked(
    std::vector<std::string> env, TimePoint deadline) {
  if (std::shared_ptr<guardian::GuardedChild> warm = std::move(warm_)) {
    if (warm->Start(env, deadline, commands_.grace)) return warm;
    spdlog::warn("the prepared guardian was gone; starting a new one");
  }
  return SpawnShared(SpawnOptionsFor(commands_.active, std::move(env), deadline));
}

Result<std::shared_ptr<guardian::GuardedChild>> ChildSupervisor::SpawnShared(
    const guardian::SpawnOptions& options) {
  auto spawned = guardian::GuardedChild::Spawn(options);
  if (!spawned) return spawned.error();
  return std::shared_ptr<guardian::GuardedChild>(std::move(spawned).value());
}

std::optional<ChildSupervisor::Running> ChildSupervisor::Watch(
    Result<std::shared_ptr<guardian::GuardedChild>> started, bool active, uint64_t token) {
  if (!started) {
    spdlog::error("cannot start the {} command: {}", active ? "active" : "passive",
                  started.error().message());
    RunEvent event;
    event.kind = RunEvent::Kind::kChildExited;
    event.exit = {guardian::ExitKind::kSpawnFailed, 127, 0};
    event.active_child = active;
    event.token = token;
    events_.Push(event);
    return std::nullopt;
  }
  std::shared_ptr<guardian::GuardedChild> child = *started;
  const TimePoint began = BootClock::now();
  Running running;
  running.child = child;
  running.ended = std::make_shared<std::atomic<bool>>(false);
  running.waiter = std::thread([this, child, active, token, began, ended = running.ended] {
    RunEvent event;
    event.kind = RunEvent::Kind::kChildExited;
    event.exit = child->Wait().value_or(guardian::ChildExit{guardian::ExitKind::kTerminated});
    ended->store(true);
    const bool stopped = event.exit.kind == guardian::ExitKind::kTerminated ||
                         event.exit.kind == guardian::ExitKind::kDeadline;
    if (stopped && event.exit.signal == SIGKILL) {
      spdlog::warn(
          "the {} command (pid {}) did not exit within --grace {} of SIGTERM: killed it "
          "with SIGKILL",
          active ? "active" : "passive", child->child_pid(), FormatDuration(commands_.grace));
    }
    event.active_child = active;
    event.token = token;
    event.lived = BootClock::now() - began;
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
  active_ = Watch(StartActiveLocked(EnvironmentFor(token), deadline), true, token);
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
    if (!active_->ended->load()) {
      spdlog::info("stopping the command (pid {}): {}", active_->child->child_pid(),
                   ToString(reason));
    }
    Stop(active_);
  }
  if (reason != PassiveReason::kStopping) StartPassiveLocked();
}

void ChildSupervisor::OnStillPassive() {
  std::lock_guard lock(mu_);
  StartPassiveLocked();
}

void ChildSupervisor::Prepare() {
  std::lock_guard lock(mu_);
  if (!active_) PrepareActiveLocked();
}

void ChildSupervisor::StartPassiveLocked() {
  if (!active_) PrepareActiveLocked();
  if (commands_.passive && !passive_ && !active_) {
    passive_ = Watch(SpawnShared(SpawnOptionsFor({"/bin/sh", "-c", *commands_.passive},
                                                 EnvironmentFor(std::nullopt), TimePoint::max())),
                     false, 0);
  }
}

void ChildSupervisor::StopAll() {
  std::lock_guard lock(mu_);
  Stop(active_);
  Stop(passive_);
  warm_.reset();
}

}  // namespace baton::cli
