#pragma once

// A TCP proxy that puts network faults between baton and its PostgreSQL server. This kernel
// has no netem, so the chaos tool and the fault tests slow down, stall and partition the
// connections of one instance by pointing its store URL at a FaultProxy.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

namespace baton::tools {

struct ProxyControl;

// Forwards TCP connections from 127.0.0.1:port() to a target, and on command delays, stalls
// or cuts them. Thread-safe: every method may be called from any thread; forwarding runs on
// a thread of its own. Each command has taken effect when its method returns.
class FaultProxy final {
 public:
  // Listens on 127.0.0.1 at `listen_port` (0: a free port). Throws std::runtime_error naming
  // what failed.
  static std::unique_ptr<FaultProxy> Start(const std::string& target_host, int target_port,
                                           int listen_port = 0);
  ~FaultProxy();  // Closes everything, joins the thread.
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }

  // Every chunk of bytes, in both directions, is forwarded `delay` after it arrived (order
  // kept); so is the connection onward and each end of a stream. 0 = none: what is queued
  // goes at once.
  void SetDelay(std::chrono::milliseconds delay);
  // Keeps connections open but forwards nothing in either direction (bytes are buffered) and
  // accepts new connections without connecting them onward, until Heal(): a network that
  // silently drops packets.
  void Stall();
  // Closes every connection at once (RST via SO_LINGER 0 to both sides) and closes new ones
  // as soon as they are accepted, until Heal(): a partition.
  void Cut();
  // Closes (RST) every connection whose first bytes from the client contain `needle`, and
  // each new one as soon as they arrive, before anything is forwarded, until Heal(); others
  // are forwarded as before. With a header an HTTP client sends on every request (etcd's
  // peers send X-Server-From: ID), one sender is cut off while the rest get through.
  void CutMatching(const std::string& needle);
  // Back to plain forwarding (no delay); buffered bytes of stalled connections are forwarded.
  void Heal();

  // Bytes received from clients so far (monotonic counter); lets a caller act right after a
  // client sent a request.
  uint64_t client_bytes() const;
  // Client connections open now: accepted, and not yet closed or cut.
  int connections() const;

 private:
  FaultProxy(std::unique_ptr<ProxyControl> control, int port);
  // Hands a command to the forwarding thread and waits until it has applied it.
  template <typename Change>
  void Command(Change change);

  std::unique_ptr<ProxyControl> control_;
  const int port_;
  std::thread thread_;
};

}  // namespace baton::tools
