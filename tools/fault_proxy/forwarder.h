#pragma once

// The forwarding loop behind FaultProxy (fault_proxy.h), and what its owner shares with it.

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace baton::tools {

enum class FaultMode { kForward, kStall, kCut };

struct FaultSettings {
  FaultMode mode = FaultMode::kForward;
  std::chrono::milliseconds delay{0};
  // Connections whose first bytes from the client contain one of these are cut, whatever
  // the mode (see FaultProxy::CutMatching).
  std::vector<std::string> cut_matching;
};

// What FaultProxy's callers tell the forwarding thread, and its acknowledgements. The fields
// under `mu` are written by callers and read by the loop; the counters by the loop only.
struct ProxyControl {
  std::mutex mu;
  std::condition_variable applied_cv;
  FaultSettings wanted;    // Guarded by mu.
  uint64_t requested = 0;  // Guarded by mu: commands handed over so far.
  uint64_t applied = 0;    // Guarded by mu: commands the loop has carried out.
  bool stop = false;       // Guarded by mu.
  bool running = true;     // Guarded by mu: false once the loop has returned.

  std::atomic<uint64_t> client_bytes{0};
  std::atomic<int> connections{0};

  int wake_fd = -1;    // An eventfd: a write wakes the loop to read `wanted` and `stop`.
  int listen_fd = -1;  // Non-blocking, listening.
  sockaddr_storage target{};
  socklen_t target_len = 0;
};

// One epoll loop that accepts clients, connects each onward, and moves bytes both ways
// through queues of timestamped chunks, so that a delay, a stall or a cut is a rule about
// when (or whether) a queued chunk may leave. Reads never stop, so a stalled client is never
// blocked by its own kernel: what it sends waits here.
//
// Only the forwarding thread calls Run(); it owns every socket but the eventfd and the
// listening socket, which the owner closes after Run() has returned.
class Forwarder final {
 public:
  explicit Forwarder(ProxyControl& control);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Forwards until `control.stop`; then closes every connection.
  void Run();

 private:
  using Clock = std::chrono::steady_clock;  // CLOCK_MONOTONIC.

  // Bytes as they arrived, or the end of a stream (FIN), or its abort (an error or RST).
  struct Chunk {
    enum class Kind { kData, kEnd, kReset };
    Kind kind = Kind::kData;
    std::string bytes;
    size_t sent = 0;
    Clock::time_point due;
  };
  // One direction of one connection.
  struct Flow {
    std::deque<Chunk> queue;
    bool source_done = false;  // The source's end or error is queued; it is not read again.
    bool blocked = false;      // The destination would block: wait for EPOLLOUT.
  };
  enum Side : uint64_t { kClient = 0, kServer = 1 };
  struct Link {
    uint64_t id = 0;
    int fd[2] = {-1, -1};         // Indexed by Side.
    uint32_t events[2] = {0, 0};  // What epoll watches on each, 0 when not registered.
    bool connecting = false;
    bool connected = false;
    Clock::time_point connect_due;
    Flow up;           // Client to server.
    Flow down;         // Server to client.
    std::string head;  // The client's first bytes, up to kHeadSize, for cut_matching.
    bool dead = false;
  };

  void Apply(const FaultSettings& settings);
  // Reads `wanted`; false when the loop must stop.
  bool OnWake();
  void Accept();
  void OnEvent(Link& link, Side side, uint32_t events);
  void Read(Link& link, Side side);
  // Whether the link's head names a client that is cut off (settings_.cut_matching).
  bool CutOff(const Link& link) const;
  void Enqueue(Flow& flow, Chunk::Kind kind, std::string bytes = {});
  // Connects onward when due, forwards what is due, and keeps epoll's interest current.
  void Pump(Link& link, Clock::time_point now);
  void Connect(Link& link);
  // Sends what is due of `flow` to `side`; false when the link had to be torn down.
  bool Forward(Link& link, Flow& flow, Side side, Clock::time_point now);
  void Watch(Link& link, Side side, uint32_t events);
  // Closes both sides with an RST.
  void Reset(Link& link);
  void Close(Link& link, bool reset);
  int TimeoutMs(Clock::time_point now) const;

  ProxyControl& control_;
  const int epoll_fd_;
  FaultSettings settings_;
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<Link>> links_;
};

}  // namespace baton::tools
