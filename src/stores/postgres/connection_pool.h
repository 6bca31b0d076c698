#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "baton/clock.h"
#include "baton/result.h"
#include "connection.h"

namespace baton::postgres_detail {

// Up to `size` connections to one database, each used by one call at a time and opened only
// when a call finds none free, so a handle used from one thread keeps one connection and a
// worker's claims, extensions and acknowledgements run side by side on a few. A lost
// connection is dropped; the next call that needs one opens another. `prepare` (the schema
// check) must succeed once, on the first connection opened, before any call runs.
//
// Thread-safe.
class ConnectionPool final {
 public:
  using Prepare = std::function<Result<void>(Connection&)>;
  ConnectionPool(ConnectionSettings settings, Clock& clock, int size, Prepare prepare);
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // Runs `call(Connection&)` on a connection of its own; the connection's error otherwise.
  template <typename Call>
  auto With(Call call) -> decltype(call(std::declval<Connection&>())) {
    Result<std::unique_ptr<Connection>> connection = Acquire();
    if (!connection) return connection.error();
    auto result = call(**connection);
    Release(std::move(*connection));
    return result;
  }

 private:
  Result<std::unique_ptr<Connection>> Acquire();
  void Release(std::unique_ptr<Connection> connection);

  const ConnectionSettings settings_;
  Clock& clock_;
  const int size_;
  const Prepare prepare_;

  std::mutex prepare_mu_;  // Held while `prepare` runs, so it runs once at a time.
  bool prepared_ = false;  // Guarded by prepare_mu_.

  std::mutex mu_;  // Guards idle_ and open_.
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;  // Idle or in use.
};

}  // namespace baton::postgres_detail
