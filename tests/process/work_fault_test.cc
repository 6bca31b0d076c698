// `baton work` through store faults: a SQLite write lock held past the claims' visibility,
// and PostgreSQL restarted with its sessions terminated mid-run. Nothing is lost (every
// item's work runs to its end, judged by the probe's done lines) and no tenant runs twice at
// once (the probe's flock). And the heartbeats of the host stay quick while the queue runs
// flat out on the same SQLite file.

#include <sqlite3.h>

#include <algorithm>
#include <set>
#include <thread>

#include "baton/sqlite_store.h"
#include "work_fixture.h"

namespace baton::process_test {
namespace {

using test_support::WaitFor;

// Every item's work ran to its end at least once, and no tenant twice at once.
void ExpectNothingLost(const std::vector<ItemEvent>& dones, const std::vector<uint64_t>& ids) {
  std::set<uint64_t> done;
  for (const ItemEvent& e : dones) done.insert(e.item);
  for (uint64_t id : ids) EXPECT_TRUE(done.count(id)) << "item " << id << " never completed";
}

std::vector<std::string> Tenants(int tenants, int rounds) {
  std::vector<std::string> keys;
  for (int r = 0; r < rounds; ++r) {
    for (int t = 0; t < tenants; ++t) keys.push_back("tenant-" + std::to_string(t));
  }
  return keys;
}

class SqliteWorkFaultTest : public WorkFixture {};

TEST_F(SqliteWorkFaultTest, WriteLockHeldPastTheVisibilityLosesNothing) {
  const std::vector<uint64_t> ids = Enqueue(Tenants(20, 3));
  StartWorker("a", {"--concurrency", "4"}, {"--sleep", "300"});
  StartWorker("b", {"--concurrency", "4"}, {"--sleep", "300"});
  ASSERT_TRUE(WaitFor([&] { return ItemEvents("done").size() >= 8; }, kTtl + kSlack));
  // Another process holds the file's write lock for 3 s, past the 2 s visibility: no
  // extension, acknowledgement or claim gets through meanwhile.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(db_path_.c_str(), &db), SQLITE_OK);
  sqlite3_busy_timeout(db, 10000);  // The workers write all the time.
  ASSERT_EQ(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  std::this_thread::sleep_for(milliseconds(3000));
  ASSERT_EQ(sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  EXPECT_TRUE(
      WaitFor([&] { return DoneTotal() == static_cast<int64_t>(ids.size()); }, milliseconds(60000)))
      << "done: " << DoneTotal();
  EXPECT_TRUE(ItemEvents("overlap").empty()) << "a tenant ran twice at once";
  ExpectNothingLost(ItemEvents("done"), ids);
  EXPECT_EQ(QueueJson({"dead"}).size(), 0u);
}

// Workers started together on a file that does not exist yet race to create its schema and
// to switch it to WAL: the losers retry, none exits.
TEST_F(SqliteWorkFaultTest, WorkersStartedTogetherOnANewFileAllWork) {
  for (const char* id : {"a", "b", "c", "d"}) StartWorker(id, {"--concurrency", "2"});
  std::this_thread::sleep_for(milliseconds(500));
  for (const char* id : {"a", "b", "c", "d"}) {
    EXPECT_TRUE(instance(id).process.Running())
        << id << " exited: " << test_support::ReadFile(instance(id).output_path);
  }
  const std::vector<uint64_t> ids = Enqueue(Tenants(40, 1));
  EXPECT_TRUE(WaitFor([&] { return DoneTotal() == 40; }, milliseconds(20000)));
  std::set<std::string> workers;
  for (const char* id : {"a", "b", "c", "d"}) {
    if (!Claims(id).empty()) workers.insert(id);
  }
  EXPECT_GE(workers.size(), 2u) << "only one worker claimed anything";
}

// SPEC 3.9: one writer for the whole file, so every queue transaction is bounded and the
// heartbeats of the host get in between. A generous bound, for a busy test machine (16 item
// commands start and end at once on its 2 cores): the tight figure is the benchmark's.
TEST_F(SqliteWorkFaultTest, HeartbeatsStayQuickWhileTheQueueRunsFlatOut) {
  ASSERT_TRUE(test_support::RunCommand({BATON_BIN, "migrate", "--store", store_}).Exited(0));
  const std::vector<uint64_t> ids = Enqueue(Tenants(500, 4));
  StartWorker("a", {"--concurrency", "8"});
  StartWorker("b", {"--concurrency", "8"});

  SqliteStoreOptions options;
  options.path = db_path_;
  auto store = OpenSqliteStore(options);
  ASSERT_TRUE(store.ok()) << store.error().message();
  std::atomic<bool> done{false};
  std::vector<int64_t> latencies_us;
  std::thread heartbeats([&] {
    HeartbeatRequest request;
    request.lease = {"heartbeat-group", kActiveLease};
    request.self = {"hb", "hb/1", "localhost", 1, "test"};
    request.intent = LeaseIntent::kAcquire;
    while (!done) {
      const auto sent = std::chrono::steady_clock::now();
      auto reply = (*store)->Heartbeat(request);
      const auto took = std::chrono::steady_clock::now() - sent;
      EXPECT_TRUE(reply.ok()) << reply.error().message();
      if (reply.ok() && reply->held) {
        request.intent = LeaseIntent::kRenew;
        request.token = reply->lease.token;
      }
      latencies_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(took).count());
      std::this_thread::sleep_for(milliseconds(50));
    }
  });
  // Meanwhile a big offer and a purge of another queue of the same file.
  const std::string keys_file = dir_.File("big-keys.txt");
  std::string text;
  for (int i = 0; i < 10000; ++i) text += "big-" + std::to_string(i % 1000) + "\n";
  test_support::WriteFile(keys_file, text);
  EXPECT_TRUE(test_support::RunCommand({BATON_BIN, "enqueue", "--store", store_, "--group", group_,
                                        "--queue", "other", "--keys-file", keys_file},
                                       milliseconds(60000))
                  .Exited(0));
  EXPECT_TRUE(test_support::RunCommand({BATON_BIN, "queue", "--store", store_, "--group", group_,
                                        "--queue", "other", "purge"},
                                       milliseconds(60000))
                  .Exited(0));
  EXPECT_TRUE(WaitFor([&] { return DoneTotal() == static_cast<int64_t>(ids.size()); },
                      milliseconds(90000)));
  done = true;
  heartbeats.join();
  ASSERT_GT(latencies_us.size(), 20u);
  std::vector<int64_t> sorted = latencies_us;
  std::sort(sorted.begin(), sorted.end());
  const int64_t p99 = sorted[(sorted.size() * 99 + 99) / 100 - 1];
  std::cerr << "heartbeats under queue load: " << sorted.size() << ", p50 "
            << sorted[sorted.size() / 2] << " us, p99 " << p99 << " us, max " << sorted.back()
            << " us\n";
  EXPECT_LT(p99, 1'000'000) << "heartbeat p99 " << p99 << " us while the queue ran flat out";
}

}  // namespace
}  // namespace baton::process_test
