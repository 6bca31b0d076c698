#include "connection_pool.h"

#include <utility>

namespace baton::postgres_detail {

ConnectionPool::ConnectionPool(ConnectionSettings settings, Clock& clock, int size, Prepare prepare)
    : settings_(std::move(settings)), clock_(clock), size_(size), prepare_(std::move(prepare)) {}

Result<std::unique_ptr<Connection>> ConnectionPool::Acquire() {
  std::unique_ptr<Connection> connection;
  {
    std::unique_lock lock(mu_);
    for (;;) {
      freed_.wait(lock, [&] { return !idle_.empty() || open_ < size_; });
      if (idle_.empty()) break;
      connection = std::move(idle_.back());
      idle_.pop_back();
      if (!connection->lost()) break;
      connection.reset();
      --open_;
    }
    if (connection == nullptr) ++open_;  // Opened below, outside the lock.
  }
  if (connection == nullptr) {
    Result<std::unique_ptr<Connection>> opened = Connection::Open(settings_, clock_);
    if (!opened) {
      std::lock_guard lock(mu_);
      --open_;
      freed_.notify_one();
      return opened.error();
    }
    connection = std::move(*opened);
  }
  std::lock_guard prepare_lock(prepare_mu_);
  if (!prepared_) {
    if (Result<void> r = prepare_(*connection); !r) {
      Release(std::move(connection));
      return r.error();
    }
    prepared_ = true;
  }
  return connection;
}

void ConnectionPool::Release(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(mu_);
  if (connection->lost()) {
    --open_;
  } else {
    idle_.push_back(std::move(connection));
  }
  freed_.notify_one();
}

}  // namespace baton::postgres_detail
