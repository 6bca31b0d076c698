#pragma once

// `baton web`'s HTTP server: the pages (html.h) and their JSON (json.h), read from the store
// at each request. Read-only. Every response forbids scripts and framing
// (Content-Security-Policy), so even a value that escaped escaping could not run.
//
// Thread safety: Start() and the destructor from one thread; requests are served on the
// server's own threads, each reading the store (whose methods are thread-safe).

#include <memory>
#include <string>

#include "baton/queue.h"
#include "baton/result.h"
#include "baton/store.h"

namespace baton::web {

// Where `baton web` listens unless told otherwise: loopback only.
inline constexpr const char* kDefaultListen = "127.0.0.1:8080";

// kInvalidArgument, saying why, unless `listen` is an address Start() takes.
Result<void> CheckListenAddress(const std::string& listen);

class WebServer final {
 public:
  // Listens on `listen` ("HOST:PORT", a port alone for 127.0.0.1; port 0 picks a free one) and
  // serves `store` and, when given, the queues of `queue` (a store without queues: nullptr);
  // both must outlive the server. kInvalidArgument for a bad address, kUnavailable when it
  // cannot be bound.
  static Result<std::unique_ptr<WebServer>> Start(Store& store, Queue* queue,
                                                  const std::string& listen);

  WebServer(const WebServer&) = delete;
  WebServer& operator=(const WebServer&) = delete;
  // Stops listening and waits for the requests being served.
  ~WebServer();

  // "HOST:PORT" it listens on (the port it was given, or the one picked).
  const std::string& address() const { return address_; }

 private:
  struct Impl;
  explicit WebServer(std::unique_ptr<Impl> impl, std::string address);

  std::unique_ptr<Impl> impl_;
  const std::string address_;
};

}  // namespace baton::web
