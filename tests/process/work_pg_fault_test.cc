// `baton work` on PostgreSQL through a server restart and terminated sessions mid-run: nothing
// is lost (every item's work runs to its end) and no tenant runs twice at once (flock).

#include <sys/prctl.h>

#include <set>
#include <thread>

#include "postgres_test_env.h"
#include "work_fixture.h"

namespace baton::process_test {
namespace {

using test_support::WaitFor;

class PgWorkFaultTest : public WorkFixture {
 protected:
  void SetUp() override {
    WorkFixture::SetUp();
    BATON_REQUIRE_PG_CLUSTER(cluster_);
    UseStore(cluster_->Url(cluster_->CreateDatabase("work_faults")));
  }
  test_support::PgCluster* cluster_ = nullptr;
};

TEST_F(PgWorkFaultTest, RestartAndTerminatedSessionsLoseNothing) {
  std::vector<std::string> keys;
  for (int r = 0; r < 4; ++r) {
    for (int t = 0; t < 25; ++t) keys.push_back("tenant-" + std::to_string(t));
  }
  const std::vector<uint64_t> ids = Enqueue(keys);
  StartWorker("a", {"--concurrency", "4"}, {"--sleep", "200"});
  StartWorker("b", {"--concurrency", "4"}, {"--sleep", "200"});
  ASSERT_TRUE(WaitFor([&] { return ItemEvents("done").size() >= 10; }, kTtl + kSlack));
  cluster_->Query(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
      "WHERE application_name LIKE 'baton%'");
  ASSERT_TRUE(WaitFor([&] { return ItemEvents("done").size() >= 30; }, milliseconds(20000)));
  cluster_->StopServer();
  std::this_thread::sleep_for(milliseconds(1000));
  // The server daemonizes: as a subreaper this process would adopt it, and the fixture's
  // clean-up would kill it with the test's processes.
  prctl(PR_SET_CHILD_SUBREAPER, 0);
  cluster_->StartServer();
  test_support::BecomeSubreaper();
  EXPECT_TRUE(
      WaitFor([&] { return DoneTotal() == static_cast<int64_t>(ids.size()); }, milliseconds(60000)))
      << "done: " << DoneTotal();
  EXPECT_TRUE(ItemEvents("overlap").empty()) << "a tenant ran twice at once";
  std::set<uint64_t> done;
  for (const ItemEvent& e : ItemEvents("done")) done.insert(e.item);
  for (uint64_t id : ids) EXPECT_TRUE(done.count(id)) << "item " << id << " never completed";
  EXPECT_EQ(QueueJson({"dead"}).size(), 0u);
}

}  // namespace
}  // namespace baton::process_test
