#pragma once

#include <memory>
#include <string>

#include "baton/clock.h"
#include "baton/queue.h"
#include "baton/result.h"
#include "baton/store.h"

namespace baton {

// The default database file: one per host, for every user, so a group is never split by the
// directory or the user it was started from. Its directory is created mode 2770 (owned by a
// `baton` system group when there is one) and the file 0660, so the members of that group
// share it.
inline constexpr const char* kDefaultSqlitePath = "/var/lib/baton/baton.db";

struct SqliteStoreOptions {
  std::string path = kDefaultSqlitePath;
  // Expiry is kept on this clock's timeline plus the kernel boot id (a reboot frees every
  // lease). Default: the real CLOCK_BOOTTIME clock. Must outlive the store.
  Clock* clock = nullptr;
  // Create the schema when the file has none (`baton run` on a new file). Off: an empty
  // file is refused until `baton migrate` runs.
  bool create_schema = true;
  // How often the release watcher looks for commits by other processes where the kernel
  // cannot report writes to the file (no inotify); with inotify a write wakes it at once.
  Duration release_poll = std::chrono::milliseconds(5);
  // Refuse database files on network or FUSE filesystems. Tests only may turn it off.
  bool refuse_network_fs = true;
};

// Opens (creating with mode 0600, or 0660 for kDefaultSqlitePath) the SQLite database at
// `options.path`: one host, many processes. Fails with kInvalidArgument for an unusable path
// (the message names the file and, for the default file, how to make it usable) or a network
// filesystem, kSchemaMismatch for a schema this program cannot use.
Result<std::unique_ptr<Store>> OpenSqliteStore(const SqliteStoreOptions& options);

// Opens the work queues (baton/queue.h) in the same file, on a connection of their own: the
// lease store's heartbeats never wait behind queue calls in this process, and every queue
// write is one BEGIN IMMEDIATE transaction of at most kMaxRowsPerTransaction rows, so they
// never wait long behind it in the file either. Same options as OpenSqliteStore
// (`release_poll` is also WatchOffers' poll).
//
// Fencing of the user's own writes by a claim: inside the user's BEGIN IMMEDIATE transaction
// on this file, `INSERT INTO baton_claim_fence (group_name, queue, item, claim_token) VALUES
// (...)` aborts with "baton: stale claim token" unless the token is the item's live claim
// (running, not cancelled); the write lock then keeps a re-claim out until the commit.
Result<std::unique_ptr<Queue>> OpenSqliteQueue(const SqliteStoreOptions& options);

// Newest schema version of the SQLite store this program knows.
int SqliteSchemaVersion();

}  // namespace baton
