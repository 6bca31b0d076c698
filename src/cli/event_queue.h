#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>

namespace baton::cli {

// A blocking FIFO between the threads of `baton run` (signals, child waiters, the elector)
// and its main loop. Thread-safe.
template <typename T>
class EventQueue final {
 public:
  void Push(T event) {
    {
      std::lock_guard lock(mu_);
      events_.push_back(std::move(event));
    }
    cv_.notify_one();
  }

  T Pop() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !events_.empty(); });
    T event = std::move(events_.front());
    events_.pop_front();
    return event;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<T> events_;
};

}  // namespace baton::cli
