#include "group_fixture.h"

#include <algorithm>
#include <iostream>
#include <utility>

namespace baton::process_test {
namespace {

std::string Ms(milliseconds d) { return std::to_string(d.count()) + "ms"; }

}  // namespace

BatonGroupTest::BatonGroupTest()
    : dir_("process"),
      db_path_(dir_.File("baton.db")),
      store_("sqlite:" + db_path_),
      lock_path_(dir_.File("probe.lock")),
      probe_log_(dir_.File("probe.log")) {}

void BatonGroupTest::SetUp() {
  // Guardians whose baton was killed are re-parented to this process, so the test can see
  // whether they exit and can kill whatever is left.
  test_support::BecomeSubreaper();
}

void BatonGroupTest::TearDown() {
  const std::vector<ProbeEvent> events = test_support::ReadProbeLog(probe_log_);
  EXPECT_EQ(test_support::CheckTokensIncrease(events), "");
  if (!expect_overlap_) {
    EXPECT_EQ(Events("overlap").size(), 0u) << "two children ran at once";
  }
  if (HasFailure()) ShowLogs();

  for (auto& [id, inst] : instances_) inst.process.Kill();
  test_support::KillDescendants();
}

void BatonGroupTest::ShowLogs() const {
  std::cerr << "--- probe log " << probe_log_ << " ---\n" << test_support::ReadFile(probe_log_);
  for (const auto& [id, inst] : instances_) {
    std::cerr << "--- baton " << id << " (pid " << inst.process.pid() << ") ---\n"
              << test_support::ReadFile(inst.output_path);
    if (!inst.stderr_path.empty()) {
      std::cerr << "--- its stderr ---\n" << test_support::ReadFile(inst.stderr_path);
    }
  }
}

std::vector<std::string> BatonGroupTest::RunArgv(const std::string& id,
                                                 const InstanceOptions& options) const {
  std::vector<std::string> argv = {BATON_BIN, "run", "--group", group_, "--id", id};
  if (!options.store_in_env) {
    argv.insert(argv.end(), {"--store", options.store.empty() ? store_ : options.store});
  }
  using Flag = std::pair<const char*, milliseconds>;
  for (const Flag& flag : {Flag{"--ttl", timing_.ttl}, Flag{"--heartbeat", timing_.heartbeat},
                           Flag{"--margin", timing_.margin}, Flag{"--grace", timing_.grace}}) {
    argv.insert(argv.end(), {flag.first, Ms(flag.second)});
  }
  argv.insert(argv.end(), options.baton_args.begin(), options.baton_args.end());
  argv.insert(argv.end(), {"--", BATON_PROBE_BIN, "--lock", lock_path_, "--log", probe_log_});
  argv.insert(argv.end(), options.probe_args.begin(), options.probe_args.end());
  return argv;
}

Instance& BatonGroupTest::Start(const std::string& id, const InstanceOptions& options) {
  InstanceOptions spawn = options;
  if (options.store_in_env) {
    spawn.baton_env.push_back("BATON_STORE=" + (options.store.empty() ? store_ : options.store));
  }
  return Spawn(id, RunArgv(id, options), spawn);
}

Instance& BatonGroupTest::Spawn(const std::string& id, const std::vector<std::string>& argv,
                                const InstanceOptions& options) {
  const std::string output = dir_.File(id + ".out");
  Process process =
      Process::Spawn({.argv = argv,
                      .extra_env = options.baton_env,
                      .stdout_path = output,
                      .stderr_path = options.stderr_path.empty() ? output : options.stderr_path});
  auto [it, inserted] =
      instances_.emplace(id, Instance{id, std::move(process), output, options.stderr_path});
  EXPECT_TRUE(inserted) << "instance " << id << " started twice";
  return it->second;
}

StatusView BatonGroupTest::Status() const {
  return test_support::RunStatus(BATON_BIN, store_, group_);
}

std::optional<ProbeEvent> BatonGroupTest::WaitForGroup(const std::vector<std::string>& ids,
                                                       milliseconds timeout) {
  std::vector<std::string> want = ids;
  std::sort(want.begin(), want.end());
  std::optional<ProbeEvent> start;
  const bool ok = test_support::WaitFor(
      [&] {
        const StatusView status = Status();
        std::vector<std::string> members = status.member_ids();
        std::sort(members.begin(), members.end());
        start = test_support::LastStart(probe_log_);
        return members == want && status.active() && start && start->instance == *status.active();
      },
      timeout, milliseconds(50));
  if (!ok) {
    ADD_FAILURE() << "the group did not settle with members " << testing::PrintToString(want)
                  << " and one active child within " << timeout.count() << " ms\n"
                  << Status().Describe();
    return std::nullopt;
  }
  return start;
}

ProbeEvent BatonGroupTest::StartGroup(const std::vector<std::string>& ids) {
  Start(ids.front());
  std::optional<ProbeEvent> first = WaitForGroup({ids.front()});
  if (!first) throw std::runtime_error("no instance became active");
  for (size_t i = 1; i < ids.size(); ++i) Start(ids[i]);
  std::optional<ProbeEvent> active = WaitForGroup(ids);
  if (!active) throw std::runtime_error("the group did not form");
  EXPECT_EQ(active->token, first->token) << "the first instance lost its lease to newcomers";
  return *active;
}

std::vector<ProbeEvent> BatonGroupTest::Events(const std::string& kind) const {
  return test_support::ProbeEvents(probe_log_, kind);
}

std::optional<ProbeEvent> BatonGroupTest::WaitForStartAfter(int64_t token, milliseconds timeout) {
  std::optional<ProbeEvent> start;
  test_support::WaitFor(
      [&] {
        start = test_support::LastStart(probe_log_);
        return start && start->token > token;
      },
      timeout, milliseconds(5));
  if (start && start->token > token) return start;
  return std::nullopt;
}

}  // namespace baton::process_test
