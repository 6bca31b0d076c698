// Store conformance: release notifications and concurrent acquirers, in real time.

#include <atomic>
#include <barrier>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store_conformance.h"
#include "test_util.h"

namespace baton::conformance {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// Real time: the release must reach a watcher by itself, without anyone moving a clock.
TEST_P(StoreConformance, WatchReleasesFiresAfterARelease) {
  Clock& real = Clock::Real();
  auto holder_store = OpenStore(&real);
  auto watcher_store = OpenStore(&real);
  MemberInfo a = Instance("a");
  HeartbeatRequest acquire = Request(a, LeaseIntent::kAcquire);
  Result<HeartbeatReply> acquired = holder_store->Heartbeat(acquire);
  ASSERT_TRUE(IsOk(acquired));
  ASSERT_TRUE(acquired->acquired);

  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  auto subscription = watcher_store->WatchReleases(Key(group_), [&] {
    std::lock_guard lock(mu);
    ++calls;
    cv.notify_all();
  });
  ASSERT_NE(subscription, nullptr);
  std::this_thread::sleep_for(milliseconds(50));  // Let it take its first look.
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(calls, 0) << "a held lease was reported as released";
  }
  Result<bool> released = holder_store->Release(Key(group_), a.holder, acquired->lease.token);
  ASSERT_TRUE(IsOk(released));
  ASSERT_TRUE(*released);
  {
    std::unique_lock lock(mu);
    EXPECT_TRUE(cv.wait_for(lock, seconds(5), [&] { return calls > 0; }))
        << "no release notification within 5 s";
  }
  subscription.reset();
  int calls_at_stop = 0;
  {
    std::lock_guard lock(mu);
    calls_at_stop = calls;
  }
  // Stopped: another release is not reported.
  ASSERT_TRUE(IsOk(holder_store->Heartbeat(acquire)));
  ASSERT_TRUE(IsOk(holder_store->Release(Key(group_), a.holder, acquired->lease.token + 1)));
  std::this_thread::sleep_for(milliseconds(50));
  std::lock_guard lock(mu);
  EXPECT_EQ(calls, calls_at_stop);
}

// Each thread has its own handle, like a process of its own; they all try to take the free
// lease at once, round after round. Exactly one may win each round.
TEST_P(StoreConformance, ConcurrentAcquirersExactlyOneWinsEachRound) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 50;
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < kThreads; ++i) stores.push_back(OpenStore());
  std::vector<std::atomic<int>> winners(kRounds);
  std::vector<std::atomic<uint64_t>> tokens(kRounds);
  std::atomic<int> errors{0};
  std::mutex error_mu;
  std::string first_error;
  std::barrier sync(kThreads);

  auto contender = [&](int index) {
    MemberInfo self = Instance("racer" + std::to_string(index));
    for (int round = 0; round < kRounds; ++round) {
      sync.arrive_and_wait();  // Everyone starts the round together.
      Result<HeartbeatReply> reply = stores[index]->Heartbeat(Request(self, LeaseIntent::kAcquire));
      bool won = reply && reply->acquired;
      if (!reply) {
        ++errors;
        std::lock_guard lock(error_mu);
        if (first_error.empty()) first_error = reply.error().message();
      }
      if (won) {
        ++winners[round];
        tokens[round] = reply->lease.token;
      }
      sync.arrive_and_wait();  // Everyone has tried; the winner frees the lease.
      if (won && !stores[index]->Release(Key(group_), self.holder, reply->lease.token).ok()) {
        ++errors;
      }
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(contender, i);
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(errors.load(), 0) << first_error;
  for (int round = 0; round < kRounds; ++round) {
    EXPECT_EQ(winners[round].load(), 1) << "round " << round;
    EXPECT_EQ(N(tokens[round].load()), round + 1) << "round " << round;
  }
}

}  // namespace
}  // namespace baton::conformance
