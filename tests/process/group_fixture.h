#pragma once

// A fixture for tests that run real `baton run` processes of one group on one store (a SQLite
// file unless the test picks another with UseStore), each wrapping baton-probe. The probes
// share one lock file and one log, so the log and the kernel's flock tell whether two
// children ever ran at once.

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "support/baton_status.h"
#include "support/probe_log.h"
#include "support/process.h"
#include "support/temp_dir.h"
#include "support/wait.h"

namespace baton::process_test {

using std::chrono::milliseconds;
using test_support::ProbeEvent;
using test_support::Process;
using test_support::StatusView;

// Short timings so a failover takes about two seconds: 2 × 400 + 200 + 400 ≤ 2000.
inline constexpr milliseconds kTtl{2000};
inline constexpr milliseconds kHeartbeat{400};
inline constexpr milliseconds kMargin{200};
inline constexpr milliseconds kGrace{400};
// Added to every bound: the machine running the tests may be busy.
inline constexpr milliseconds kSlack{1000};

// What to change about one `baton run`.
struct InstanceOptions {
  std::vector<std::string> baton_env = {};   // Extra environment of baton (not of the probe).
  std::vector<std::string> baton_args = {};  // Extra options of `baton run`, before `--`.
  std::vector<std::string> probe_args = {};  // Extra arguments of the probe.
  bool store_in_env = false;                 // BATON_STORE instead of --store.
  std::string stderr_path = {};              // baton's stderr apart from its output.
  std::string store = {};                    // Another store URL than the test's.
};

struct Instance {
  std::string id;
  Process process;
  std::string output_path;  // baton's stdout and stderr, with the probe's output.
  std::string stderr_path;  // baton's stderr when kept apart (InstanceOptions), else empty.
};

class BatonGroupTest : public ::testing::Test {
 public:
  // Points the test at another store than its SQLite file. REQUIRES: called from SetUp,
  // before any instance starts.
  void UseStore(const std::string& url) { store_ = url; }

 protected:
  BatonGroupTest();

  void SetUp() override;
  // Checks what must hold after every test (tokens grow; no overlap unless expected), shows
  // the logs when the test failed, then kills every process the test started.
  void TearDown() override;

  // The argv of `baton run` for instance `id` wrapping the probe.
  std::vector<std::string> RunArgv(const std::string& id,
                                   const InstanceOptions& options = {}) const;
  // Starts `baton run --id id`.
  Instance& Start(const std::string& id, const InstanceOptions& options = {});
  // Starts baton with any `argv` (from options, only the environment and stderr_path
  // count) and keeps it under the name `id`, for the logs and the clean-up.
  Instance& Spawn(const std::string& id, const std::vector<std::string>& argv,
                  const InstanceOptions& options = {});
  Instance& instance(const std::string& id) { return instances_.at(id); }

  StatusView Status() const;
  // Waits until `status --json` shows `ids` as the members (in any order), one of them active,
  // and the probe of the active one has logged its start. Returns that start.
  std::optional<ProbeEvent> WaitForGroup(const std::vector<std::string>& ids,
                                         milliseconds timeout = kTtl + kSlack);
  // Starts the first id alone and waits until it is active, then starts the others and waits
  // until all are members: which instance is active is then known.
  ProbeEvent StartGroup(const std::vector<std::string>& ids);

  std::vector<ProbeEvent> Events(const std::string& kind) const;
  // Waits for a start line whose token is above `token`.
  std::optional<ProbeEvent> WaitForStartAfter(int64_t token, milliseconds timeout);

  // The timing every `baton run` of the test gets; a test may lengthen it before it starts
  // instances (the fixture's waits still use the constants above).
  struct RunTiming {
    milliseconds ttl = kTtl;
    milliseconds heartbeat = kHeartbeat;
    milliseconds margin = kMargin;
    milliseconds grace = kGrace;
  };
  RunTiming timing_;

  test_support::TempDir dir_;
  std::string group_ = "svc";
  const std::string db_path_;  // The SQLite file, also when the test uses another store.
  std::string store_;
  const std::string lock_path_;
  const std::string probe_log_;
  // Set by a test that makes two children overlap on purpose.
  bool expect_overlap_ = false;

 private:
  void ShowLogs() const;

  std::map<std::string, Instance> instances_;
};

// The store that the store-parameterized suites run on. Each test binary defines
// StoreUnderTest() for the store it tests (sqlite_store.cc, postgres_store.cc).
struct StoreKind {
  const char* name;                      // The suffix of the tests' names.
  void (*set_up)(BatonGroupTest& test);  // Gives the test a fresh store, or skips or fails it.
};
StoreKind StoreUnderTest();
// How GoogleTest shows a StoreKind in test listings: its name, not its bytes.
inline void PrintTo(const StoreKind& kind, std::ostream* os) { *os << kind.name; }

// BatonGroupTest on the store of StoreUnderTest().
class StoreGroupTest : public BatonGroupTest, public ::testing::WithParamInterface<StoreKind> {
 protected:
  void SetUp() override {
    BatonGroupTest::SetUp();
    GetParam().set_up(*this);
  }
};

// Instantiates a StoreGroupTest suite on the store of this binary; tests are named
// Suite.Test/sqlite or Suite.Test/postgresql.
#define BATON_INSTANTIATE_ON_STORE_UNDER_TEST(suite)                                   \
  INSTANTIATE_TEST_SUITE_P(, suite, ::testing::Values(StoreUnderTest()),               \
                           [](const ::testing::TestParamInfo<StoreKind>& param_info) { \
                             return std::string(param_info.param.name);                \
                           })

}  // namespace baton::process_test
