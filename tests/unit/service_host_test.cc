// The library's service host with real threads on a short real ttl: callbacks get the
// token and a stop signal, a stopped host hands over, an overrunning callback ends the
// process.
#include "baton/service_host.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "baton/sqlite_store.h"
#include "faulty_store.h"
#include "support/temp_dir.h"

namespace baton {
namespace {

using namespace std::chrono_literals;

class ServiceHostTest : public ::testing::Test {
 protected:
  std::unique_ptr<Store> OpenStore() {
    SqliteStoreOptions options;
    options.path = dir_.File("baton.db");
    auto store = OpenSqliteStore(options);
    EXPECT_TRUE(store.ok()) << store.error().message();
    return std::move(store).value();
  }

  static HostedService Service(std::function<void(ActiveContext&)> active) {
    HostedService service;
    service.group = "reports";
    service.timing.ttl = 1s;
    service.active = std::move(active);
    return service;
  }

  template <typename Pred>
  static bool WaitFor(Pred pred, std::chrono::milliseconds limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(2ms);
    }
    return true;
  }

  // The threads of this process, as /proc/self/task lists them.
  static size_t ThreadCount() {
    size_t n = 0;
    for ([[maybe_unused]] const auto& entry :
         std::filesystem::directory_iterator("/proc/self/task")) {
      ++n;
    }
    return n;
  }

  test_support::TempDir dir_{"host"};
};

TEST_F(ServiceHostTest, ActiveCallbackGetsTokenAndStopsOnHandover) {
  auto store_a = OpenStore();
  auto store_b = OpenStore();
  std::atomic<uint64_t> token_a{0}, token_b{0};
  std::atomic<bool> a_returned{false};
  std::atomic<bool> passive_b_ran{false};
  std::string id_seen;
  ServiceHost a(*store_a, {.id = "a", .clock = nullptr});
  ServiceHost b(*store_b, {.id = "b", .clock = nullptr});
  ASSERT_TRUE(a.Add(Service([&](ActiveContext& ctx) {
                 id_seen = ctx.instance_id();
                 token_a = ctx.token();
                 EXPECT_GT(ctx.TimeLeft(), 0ms);
                 while (!ctx.stop_token().stop_requested()) std::this_thread::sleep_for(1ms);
                 a_returned = true;
               })).ok());
  HostedService second = Service([&](ActiveContext& ctx) {
    EXPECT_TRUE(a_returned);  // Never two active: a returned before b started.
    token_b = ctx.token();
    while (!ctx.stop_token().stop_requested()) std::this_thread::sleep_for(1ms);
  });
  second.passive = [&](PassiveContext& ctx) {
    passive_b_ran = true;
    while (!ctx.stop_token().stop_requested()) std::this_thread::sleep_for(1ms);
  };
  ASSERT_TRUE(b.Add(second).ok());

  std::thread run_a([&] { EXPECT_TRUE(a.Run().ok()); });
  ASSERT_TRUE(WaitFor([&] { return token_a != 0; }));
  std::thread run_b([&] { EXPECT_TRUE(b.Run().ok()); });
  ASSERT_TRUE(WaitFor([&] { return passive_b_ran.load(); }));
  EXPECT_EQ(token_b, 0u);

  a.RequestStop();
  run_a.join();
  EXPECT_TRUE(a_returned);
  ASSERT_TRUE(WaitFor([&] { return token_b != 0; }, 2s));
  EXPECT_GT(token_b, token_a);
  EXPECT_EQ(id_seen, "a");
  b.RequestStop();
  run_b.join();
}

TEST_F(ServiceHostTest, RefusesBadServices) {
  auto store = OpenStore();
  ServiceHost host(*store);
  HostedService no_group = Service([](ActiveContext&) {});
  no_group.group = "";
  EXPECT_EQ(host.Add(no_group).error().code(), ErrorCode::kInvalidArgument);
  HostedService tight = Service([](ActiveContext&) {});
  tight.timing.heartbeat = 400ms;
  EXPECT_EQ(host.Add(tight).error().code(), ErrorCode::kInvalidArgument);
  HostedService no_callback = Service(nullptr);
  EXPECT_EQ(host.Add(no_callback).error().code(), ErrorCode::kInvalidArgument);
}

// The default, so a library user who forgets the option is not the one who gets two actives.
TEST_F(ServiceHostTest, OverrunningCallbackEndsTheProcessAtTheDeadlineByDefault) {
  EXPECT_EXIT(
      {
        auto store = OpenStore();
        ServiceHost host(*store, {.id = "stubborn", .clock = nullptr});
        HostedService service = Service([&](ActiveContext&) {
          host.RequestStop();
          std::this_thread::sleep_for(1h);  // Ignores its stop token.
        });
        (void)host.Add(service);
        (void)host.Run();
        std::exit(0);
      },
      ::testing::ExitedWithCode(70), "");
}

// The callback's SIGTERM: with no renewal, its stop token is requested at deadline − grace,
// so a callback that obeys it returns before the deadline and the process goes on.
TEST_F(ServiceHostTest, StopIsRequestedAGraceBeforeTheDeadlineWhenRenewalsFail) {
  EXPECT_EXIT(
      {
        auto inner = OpenStore();
        FakeClock unused;
        testing::FaultyStore store(*inner, unused);
        ServiceHost host(store, {.id = "obedient", .clock = nullptr});
        std::atomic<int64_t> left_ms{-1000};
        HostedService service = Service([&](ActiveContext& ctx) {
          store.set_mode(testing::FaultyStore::Mode::kFail);  // No renewal from now on.
          while (!ctx.stop_token().stop_requested()) std::this_thread::sleep_for(1ms);
          left_ms = std::chrono::duration_cast<std::chrono::milliseconds>(ctx.TimeLeft()).count();
          host.RequestStop();
        });
        (void)host.Add(service);  // ttl 1s: grace 200ms.
        (void)host.Run();
        std::fprintf(stderr, "stop requested %lld ms before the deadline\n",
                     static_cast<long long>(left_ms.load()));
        std::exit(left_ms > 100 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(ServiceHostTest, WithExitOnOverrunOffTheHostWaitsForTheCallback) {
  EXPECT_EXIT(
      {
        auto store = OpenStore();
        ServiceHost host(*store, {.id = "patient", .clock = nullptr});
        HostedService service = Service([&](ActiveContext&) {
          host.RequestStop();
          std::this_thread::sleep_for(1500ms);  // Past the 1 s ttl, ignoring its stop token.
        });
        service.exit_on_overrun = false;
        (void)host.Add(service);
        std::exit(host.Run().ok() ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

// Issue: StopOnSignals() detached a thread that kept the host's `this`, so a signal after the
// host was destroyed called RequestStop() on a dead object. Now the host joins that thread:
// none is left once the host is gone, and a later signal stays pending for nobody. (Run in a
// child process of its own, whose signal mask and threads the test may change freely.)
TEST_F(ServiceHostTest, SignalAfterTheHostIsGoneReachesNoThreadOfIt) {
  EXPECT_EXIT(
      {
        auto store = OpenStore();
        const size_t before = ThreadCount();
        {
          ServiceHost host(*store, {.id = "gone", .clock = nullptr});
          host.StopOnSignals();
          if (ThreadCount() != before + 1) std::exit(3);  // The signal thread runs.
        }
        // A detached thread would still be there, waiting for a signal to call into the
        // destroyed host with.
        if (!WaitFor([&] { return ThreadCount() == before; }, 2s)) std::exit(4);
        kill(getpid(), SIGHUP);
        sigset_t pending;
        sigpending(&pending);
        std::exit(sigismember(&pending, SIGHUP) == 1 ? 0 : 5);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(ServiceHostTest, SignalWhileTheHostRunsStopsIt) {
  EXPECT_EXIT(
      {
        alarm(20);  // A host that ignores the signal fails the test instead of hanging it.
        auto store = OpenStore();
        ServiceHost host(*store, {.id = "signalled", .clock = nullptr});
        host.StopOnSignals();
        std::atomic<bool> active{false};
        (void)host.Add(Service([&](ActiveContext& ctx) {
          active = true;
          while (!ctx.stop_token().stop_requested()) std::this_thread::sleep_for(1ms);
        }));
        std::atomic<bool> ran_ok{false};
        std::thread run([&] { ran_ok = host.Run().ok(); });
        if (!WaitFor([&] { return active.load(); })) std::exit(7);
        kill(getpid(), SIGTERM);
        run.join();
        std::exit(ran_ok ? 0 : 6);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace baton
