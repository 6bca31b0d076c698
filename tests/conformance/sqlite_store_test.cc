// What only the SQLite store promises: the file, its schema versions, the filesystem check,
// the boot id, and the release watcher's poll on the store's clock.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "baton/sqlite_store.h"
#include "filesystem.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Runs SQL on the file directly, as an operator or another program would.
void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  char* message = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  EXPECT_EQ(rc, SQLITE_OK) << (message != nullptr ? message : "") << " in " << sql;
  sqlite3_free(message);
  sqlite3_close(db);
}

std::string RawQueryText(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

class SqliteStoreTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<Store>> Open(const std::string& path, bool create_schema = true) {
    SqliteStoreOptions options;
    options.path = path;
    options.clock = &clock_;
    options.create_schema = create_schema;
    return OpenSqliteStore(options);
  }

  static HeartbeatRequest Request(const std::string& name, LeaseIntent intent) {
    HeartbeatRequest request;
    request.lease = LeaseKey{.group = "g", .name = kActiveLease};
    request.self =
        MemberInfo{.id = name, .holder = name + "#1", .host = "h", .pid = 1, .version = "test"};
    request.intent = intent;
    return request;
  }

  TempDir dir_;
  FakeClock clock_;
};

TEST_F(SqliteStoreTest, CreatesTheFileWithMode0600) {
  const std::string path = dir_.File("baton.db");
  auto store = Open(path);
  ASSERT_TRUE(IsOk(store));
  ASSERT_TRUE(IsOk((*store)->Heartbeat(Request("a", LeaseIntent::kAcquire))));
  for (const std::string& file : {path, path + "-wal", path + "-shm"}) {
    struct stat st {};
    ASSERT_EQ(::stat(file.c_str(), &st), 0) << file;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << file;
  }
  EXPECT_EQ((*store)->Describe(), "sqlite:" + path);
}

TEST_F(SqliteStoreTest, UsesWriteAheadLogging) {
  const std::string path = dir_.File("baton.db");
  auto store = Open(path);
  ASSERT_TRUE(IsOk(store));
  EXPECT_EQ(RawQueryText(path, "PRAGMA journal_mode"), "wal");
}

TEST_F(SqliteStoreTest, RefusesAPathUnderARegularFile) {
  const std::string plain = dir_.File("plain");
  std::ofstream(plain) << "not a directory\n";
  const std::string path = plain + "/baton.db";
  auto store = Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(store.error().message().find(path), std::string::npos) << store.error().message();
  EXPECT_NE(store.error().message().find("not a directory"), std::string::npos)
      << store.error().message();
}

TEST_F(SqliteStoreTest, RefusesAMissingDirectory) {
  const std::string path = dir_.File("missing/baton.db");
  auto store = Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(store.error().message().find(path), std::string::npos) << store.error().message();
  EXPECT_NE(store.error().message().find("does not exist"), std::string::npos)
      << store.error().message();
}

TEST_F(SqliteStoreTest, RefusesADirectory) {
  auto store = Open(dir_.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(store.error().message().find("directory"), std::string::npos)
      << store.error().message();
}

// A newer baton's schema that it did not keep usable by this one (usable_from 7), or that
// predates usable_from (no such row: usable from its own version only).
TEST_F(SqliteStoreTest, RefusesANewerSchemaNamingBothVersions) {
  const std::string path = dir_.File("baton.db");
  ASSERT_TRUE(IsOk(Open(path)));
  RawExec(path, "UPDATE baton_meta SET value = 7 WHERE key IN ('schema_version', 'usable_from')");
  const std::string supported = std::to_string(SqliteSchemaVersion());
  for (bool create_schema : {true, false}) {
    auto store = Open(path, create_schema);
    ASSERT_FALSE(store.ok());
    EXPECT_EQ(store.error().code(), ErrorCode::kSchemaMismatch);
    EXPECT_EQ(store.error().message(), "sqlite:" + path +
                                           " has baton schema version 7 (usable from version 7), "
                                           "this baton supports up to version " +
                                           supported + ": upgrade baton");
  }
  RawExec(path, "DELETE FROM baton_meta WHERE key = 'usable_from'");
  auto store = Open(path);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(store.error().message().find("usable from version 7"), std::string::npos)
      << store.error().message();
}

// SPEC 5: a newer release's schema that says it stays usable by this one is used as it is,
// and neither `baton run` nor `baton migrate` of this release moves it back.
TEST_F(SqliteStoreTest, UsesANewerSchemaThatStaysUsableAndLeavesItAlone) {
  const std::string path = dir_.File("baton.db");
  ASSERT_TRUE(IsOk(Open(path)));
  RawExec(path, "UPDATE baton_meta SET value = 7 WHERE key = 'schema_version'");
  ASSERT_EQ(RawQueryText(path, "SELECT value FROM baton_meta WHERE key = 'usable_from'"), "1")
      << "version 2 stays usable from version 1";
  for (bool create_schema : {true, false}) {
    auto store = Open(path, create_schema);
    ASSERT_TRUE(IsOk(store));
    Result<HeartbeatReply> beat = (*store)->Heartbeat(Request("a", LeaseIntent::kAcquire));
    ASSERT_TRUE(IsOk(beat));
    EXPECT_TRUE(beat->held);
    Result<SchemaInfo> info = (*store)->Migrate();
    ASSERT_TRUE(IsOk(info));
    EXPECT_EQ(info->found, 7);
    EXPECT_EQ(info->current, 7);
  }
  EXPECT_EQ(RawQueryText(path, "SELECT value FROM baton_meta WHERE key = 'schema_version'"), "7");
}

TEST_F(SqliteStoreTest, EmptyFileWithoutCreateSchemaAsksForMigrate) {
  const std::string path = dir_.File("baton.db");
  auto refused = Open(path, /*create_schema=*/false);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code(), ErrorCode::kSchemaMismatch);
  EXPECT_NE(refused.error().message().find("baton migrate"), std::string::npos)
      << refused.error().message();

  auto created = Open(path, /*create_schema=*/true);
  ASSERT_TRUE(IsOk(created));
  Result<SchemaInfo> info = (*created)->Migrate();
  ASSERT_TRUE(IsOk(info));
  EXPECT_EQ(info->found, SqliteSchemaVersion());
  EXPECT_EQ(info->current, SqliteSchemaVersion());
  EXPECT_EQ(info->supported, SqliteSchemaVersion());
  EXPECT_TRUE(IsOk(Open(path, /*create_schema=*/false)));
}

TEST_F(SqliteStoreTest, ManyProcessesMayCreateTheSameNewFileAtOnce) {
  const std::string path = dir_.File("baton.db");
  constexpr int kOpeners = 8;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&] {
      auto store = Open(path);
      if (!store.ok()) {
        ADD_FAILURE() << store.error().message();
        ++failures;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(RawQueryText(path, "SELECT value FROM baton_meta WHERE key = 'schema_version'"),
            std::to_string(SqliteSchemaVersion()));
}

TEST_F(SqliteStoreTest, ClassifiesNetworkAndFuseFilesystems) {
  using sqlite_detail::RemoteFilesystemName;
  EXPECT_EQ(RemoteFilesystemName(0x6969), "nfs");
  EXPECT_EQ(RemoteFilesystemName(0x517B), "smb");
  EXPECT_EQ(RemoteFilesystemName(0xFF534D42), "cifs");
  EXPECT_EQ(RemoteFilesystemName(0xFE534D42), "smb2");
  EXPECT_EQ(RemoteFilesystemName(0x65735546), "fuse");
  EXPECT_EQ(RemoteFilesystemName(0x01021997), "9p");
  EXPECT_EQ(RemoteFilesystemName(0x00C36400), "ceph");
  EXPECT_EQ(RemoteFilesystemName(0x5346414F), "afs");
  EXPECT_EQ(RemoteFilesystemName(0x73757245), "coda");
  EXPECT_EQ(RemoteFilesystemName(0x564C), "ncp");
  EXPECT_EQ(RemoteFilesystemName(0x01161970), "gfs2");
  EXPECT_EQ(RemoteFilesystemName(0x7461636F), "ocfs2");
  EXPECT_EQ(RemoteFilesystemName(0x0BD00BD0), "lustre");
  // f_type is a signed long: a magic with the top bit set may arrive sign-extended.
  EXPECT_EQ(RemoteFilesystemName(static_cast<uint64_t>(int64_t{static_cast<int32_t>(0xFF534D42)})),
            "cifs");
  // Local filesystems: ext4, xfs, btrfs, tmpfs, overlayfs, zfs.
  for (uint64_t local :
       {0xEF53ull, 0x58465342ull, 0x9123683Eull, 0x01021994ull, 0x794C7630ull, 0x2FC12FC1ull}) {
    EXPECT_FALSE(RemoteFilesystemName(local).has_value()) << std::hex << local;
  }
}

TEST_F(SqliteStoreTest, NetworkFilesystemMessageSaysWhatToDo) {
  Result<void> nfs = sqlite_detail::CheckFilesystemMagic("sqlite:/mnt/x/baton.db", 0x6969);
  ASSERT_FALSE(nfs.ok());
  EXPECT_EQ(nfs.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_EQ(nfs.error().message(),
            "sqlite:/mnt/x/baton.db is on a network filesystem (nfs); its locks and clocks are "
            "not one host's — use a local disk or PostgreSQL");
  Result<void> fuse = sqlite_detail::CheckFilesystemMagic("sqlite:/f/baton.db", 0x65735546);
  ASSERT_FALSE(fuse.ok());
  EXPECT_NE(fuse.error().message().find("FUSE filesystem (fuse)"), std::string::npos);
  EXPECT_TRUE(sqlite_detail::CheckFilesystemMagic("sqlite:/x.db", 0xEF53).ok());
}

// A reboot frees every lease and member: rows stamped with another boot id are expired,
// whatever their expiry numbers say.
TEST_F(SqliteStoreTest, RowsFromAnotherBootCountAsExpired) {
  const std::string path = dir_.File("baton.db");
  auto store_a = Open(path);
  auto store_b = Open(path);
  ASSERT_TRUE(IsOk(store_a));
  ASSERT_TRUE(IsOk(store_b));
  HeartbeatRequest acquire = Request("a", LeaseIntent::kAcquire);
  acquire.lease_ttl = std::chrono::hours(1);
  acquire.member_ttl = std::chrono::hours(1);
  Result<HeartbeatReply> acquired = (*store_a)->Heartbeat(acquire);
  ASSERT_TRUE(IsOk(acquired));
  ASSERT_TRUE(acquired->acquired);

  RawExec(path, "UPDATE baton_leases SET boot_id = 'another-boot'");
  RawExec(path, "UPDATE baton_members SET boot_id = 'another-boot'");
  Result<GroupSnapshot> snapshot = (*store_b)->Snapshot("g");
  ASSERT_TRUE(IsOk(snapshot));
  EXPECT_TRUE(snapshot->lease.free());
  ASSERT_EQ(snapshot->members.size(), 1u);
  EXPECT_LE(snapshot->members[0].expires_in, Duration::zero());

  // a cannot renew it; b reaps a's row and takes the lease with a larger token.
  HeartbeatRequest renew = Request("a", LeaseIntent::kRenew);
  renew.token = 1;
  Result<HeartbeatReply> renewed = (*store_a)->Heartbeat(renew);
  ASSERT_TRUE(IsOk(renewed));
  EXPECT_FALSE(renewed->held);
  RawExec(path, "UPDATE baton_members SET boot_id = 'another-boot'");
  Result<HeartbeatReply> taken = (*store_b)->Heartbeat(Request("b", LeaseIntent::kAcquire));
  ASSERT_TRUE(IsOk(taken));
  EXPECT_EQ(taken->reaped, std::vector<std::string>{"a"});
  EXPECT_TRUE(taken->acquired);
  EXPECT_EQ(taken->lease.token, 2u);
}

// A process that sits inside its write transaction (paused, say) holds up every writer; after
// the busy timeout they fail with a retryable error naming the file, and nothing changed.
TEST_F(SqliteStoreTest, AWriteLockHeldTooLongIsUnavailableNotFatal) {
  const std::string path = dir_.File("baton.db");
  auto store = Open(path);
  ASSERT_TRUE(IsOk(store));
  sqlite3* blocker = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &blocker, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(blocker, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);

  Result<HeartbeatReply> blocked = (*store)->Heartbeat(Request("a", LeaseIntent::kAcquire));
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(blocked.error().code(), ErrorCode::kUnavailable);
  EXPECT_TRUE(blocked.error().retryable());
  EXPECT_NE(blocked.error().message().find("sqlite:" + path), std::string::npos)
      << blocked.error().message();
  EXPECT_NE(blocked.error().message().find("write lock"), std::string::npos)
      << blocked.error().message();

  ASSERT_EQ(sqlite3_exec(blocker, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(blocker);
  Result<HeartbeatReply> after = (*store)->Heartbeat(Request("a", LeaseIntent::kAcquire));
  ASSERT_TRUE(IsOk(after));
  EXPECT_TRUE(after->acquired);
  EXPECT_EQ(after->lease.token, 1u);
}

TEST_F(SqliteStoreTest, RefusesANonPositiveReleasePoll) {
  SqliteStoreOptions options;
  options.path = dir_.File("baton.db");
  options.release_poll = Duration::zero();
  auto store = OpenSqliteStore(options);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
}

// The watcher polls on the store's clock: on a FakeClock it looks again only when the test
// moves time past its poll interval.
TEST_F(SqliteStoreTest, ReleaseWatcherPollsOnTheStoreClock) {
  const std::string path = dir_.File("baton.db");
  auto holder = Open(path);
  auto watcher = Open(path);
  ASSERT_TRUE(IsOk(holder));
  ASSERT_TRUE(IsOk(watcher));
  Result<HeartbeatReply> acquired = (*holder)->Heartbeat(Request("a", LeaseIntent::kAcquire));
  ASSERT_TRUE(IsOk(acquired));
  std::atomic<int> calls{0};
  auto subscription =
      (*watcher)->WatchReleases(LeaseKey{.group = "g", .name = kActiveLease}, [&] { ++calls; });
  ASSERT_TRUE(clock_.AwaitWaiters(1));  // It took its first look and waits for the next.
  EXPECT_EQ(calls.load(), 0);
  ASSERT_TRUE(IsOk((*holder)->Release(LeaseKey{.group = "g", .name = kActiveLease}, "a#1", 1)));
  clock_.Advance(milliseconds(5));
  const auto give_up = std::chrono::steady_clock::now() + seconds(5);
  while (calls.load() == 0 && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(calls.load(), 1);
  // The store may go first; the subscription still stops cleanly.
  watcher->reset();
  subscription.reset();
}

// A process with a store and a queue on one file keeps its locks on the file: opening the
// queue once checked the file by opening and closing it, which dropped every POSIX lock the
// process held on it, so another process closing its last connection took itself for the
// last user and deleted the -wal and -shm files under the live connections.
TEST_F(SqliteStoreTest, AnotherProcessClosingLeavesTheWriteAheadLogOfAStoreAndAQueue) {
  const std::string path = dir_.File("baton.db");
  auto store = Open(path);
  ASSERT_TRUE(IsOk(store));
  SqliteStoreOptions options;
  options.path = path;
  options.clock = &clock_;
  auto queue = OpenSqliteQueue(options);
  ASSERT_TRUE(IsOk(queue));
  ASSERT_TRUE(IsOk((*store)->Heartbeat(Request("a", LeaseIntent::kAcquire))));
  const std::string command =
      "sqlite3 '" + path + "' 'SELECT count(*) FROM sqlite_master' >/dev/null";
  ASSERT_EQ(std::system(command.c_str()), 0) << "needs the sqlite3 program";
  struct stat st {};
  EXPECT_EQ(::stat((path + "-wal").c_str(), &st), 0) << "the -wal file was deleted";
  EXPECT_TRUE(IsOk((*store)->Heartbeat(Request("a", LeaseIntent::kAcquire))));
}

}  // namespace
}  // namespace baton::conformance
