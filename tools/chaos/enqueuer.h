#pragma once

// Feeds a queue chaos run: on a thread of its own (the faults block the driver's thread for
// seconds), runs `baton enqueue` again and again with a few items of one random tenant at a
// time, and records every id it printed in enqueued.log (record.h), with what the item's
// work was told to do: quick or slow work, a time-to-live on some, a few poison items
// (exit 65), a few that fail twice, a few that always fail. An enqueue that fails is
// recorded as such: its outcome is unknown.
//
// Thread safety: the constructor, Start() and Stop() on one thread; the feeding runs on the
// enqueuer's own thread and touches nothing else of the driver.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace baton::chaos {

struct EnqueuerOptions {
  std::string baton_bin;
  std::string store_url;
  std::string record_dir;
  uint64_t seed = 0;
  int tenants = 8;
  int sleep_min_ms = 5;  // Each item's work sleeps in [sleep_min_ms, sleep_max_ms].
  int sleep_max_ms = 80;
  // About one batch in eight sleeps in [slow_min_ms, slow_max_ms] instead; 0: none.
  int slow_min_ms = 0;
  int slow_max_ms = 0;
};

class Enqueuer final {
 public:
  explicit Enqueuer(EnqueuerOptions options) : options_(std::move(options)) {}
  ~Enqueuer() { Stop(); }
  Enqueuer(const Enqueuer&) = delete;
  Enqueuer& operator=(const Enqueuer&) = delete;

  void Start();
  // Finishes the enqueue under way, then stops.
  void Stop();
  int enqueued() const { return enqueued_; }
  int failed() const { return failed_; }

 private:
  void Feed();

  EnqueuerOptions options_;
  std::atomic<bool> stop_{false};
  std::atomic<int> enqueued_{0};
  std::atomic<int> failed_{0};
  std::thread thread_;
};

}  // namespace baton::chaos
