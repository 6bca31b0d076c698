#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "baton/clock.h"

namespace baton::sqlite_detail {

// How often a watcher with a WriteWaker looks anyway: a net under a lost event (an overflowed
// inotify queue), cheap enough to cost nothing idle.
inline constexpr Duration kSafetyPoll = std::chrono::milliseconds(250);
// How long after a write a watcher goes on looking every `poll`: inotify reports the first
// write of a commit to the log, and the commit shows only once SQLite has finished it (the
// frames, their sync, then the WAL index in shared memory, which the kernel does not report).
inline constexpr Duration kAfterWrite = std::chrono::milliseconds(100);

// Calls `on_write` soon after any process writes the database file at `path` or its write-ahead
// log (`path`-wal), as the kernel reports it through inotify on their directory: so a watcher
// that looks for other processes' commits need not poll. A commit in WAL mode appends to the
// log with write(), which inotify reports; a checkpoint writes the file. Spurious calls are
// allowed (every heartbeat of every process is a write).
//
// Thread safety: created and destroyed on any one thread; `on_write` runs on a thread of the
// waker's own, never after the destructor has returned.
class WriteWaker final {
 public:
  // nullptr when inotify is not available (the caller then polls).
  static std::unique_ptr<WriteWaker> Start(const std::string& path, std::function<void()> on_write);
  ~WriteWaker();
  WriteWaker(const WriteWaker&) = delete;
  WriteWaker& operator=(const WriteWaker&) = delete;

 private:
  WriteWaker(int inotify_fd, int stop_fd, std::string file, std::function<void()> on_write);
  void Loop();

  const int inotify_fd_;
  const int stop_fd_;       // An eventfd: a write ends Loop().
  const std::string file_;  // The database file's name within its directory.
  const std::function<void()> on_write_;
  std::thread thread_;
};

}  // namespace baton::sqlite_detail
