#include "forwarder.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace baton::tools {
namespace {

// epoll tags: link ids start at 1, so `id << 1 | side` never collides with these.
constexpr uint64_t kListenTag = 0;
constexpr uint64_t kWakeTag = 1;
constexpr size_t kReadSize = 64 * 1024;
// How much of a connection's start CutMatching looks at: an HTTP request's headers.
constexpr size_t kHeadSize = 4096;

void ResetAndClose(int fd) {
  if (fd < 0) return;
  // An abortive close: the peer gets an RST, as from a partition that a kernel noticed.
  const linger abort{.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &abort, sizeof(abort));
  close(fd);
}

void NoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

}  // namespace

Forwarder::Forwarder(ProxyControl& control)
    : control_(control), epoll_fd_(epoll_create1(EPOLL_CLOEXEC)) {
  if (epoll_fd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + strerror(errno));
  epoll_event listen{.events = EPOLLIN, .data = {.u64 = kListenTag}};
  epoll_event wake{.events = EPOLLIN, .data = {.u64 = kWakeTag}};
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, control_.listen_fd, &listen) != 0 ||
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, control_.wake_fd, &wake) != 0) {
    const std::string why = strerror(errno);
    close(epoll_fd_);
    throw std::runtime_error("epoll_ctl: " + why);
  }
}

Forwarder::~Forwarder() {
  for (auto& [id, link] : links_) Close(*link, /*reset=*/false);
  close(epoll_fd_);
}

void Forwarder::Run() {
  std::vector<epoll_event> events(64);
  for (;;) {
    const int ready = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()),
                                 TimeoutMs(Clock::now()));
    if (ready < 0 && errno != EINTR) return;
    for (int i = 0; i < ready; ++i) {
      const uint64_t tag = events[i].data.u64;
      if (tag == kWakeTag) {
        if (!OnWake()) return;
      } else if (tag == kListenTag) {
        Accept();
      } else if (auto it = links_.find(tag >> 1); it != links_.end() && !it->second->dead) {
        OnEvent(*it->second, static_cast<Side>(tag & 1), events[i].events);
      }
    }
    const Clock::time_point now = Clock::now();
    for (auto it = links_.begin(); it != links_.end();) {
      if (!it->second->dead) Pump(*it->second, now);
      it = it->second->dead ? links_.erase(it) : std::next(it);
    }
  }
}

bool Forwarder::OnWake() {
  uint64_t count = 0;
  (void)!read(control_.wake_fd, &count, sizeof(count));
  FaultSettings wanted;
  uint64_t requested;
  {
    std::lock_guard lock(control_.mu);
    if (control_.stop) return false;
    wanted = control_.wanted;
    requested = control_.requested;
  }
  Apply(wanted);
  {
    std::lock_guard lock(control_.mu);
    control_.applied = requested;
  }
  control_.applied_cv.notify_all();
  return true;
}

void Forwarder::Apply(const FaultSettings& settings) {
  settings_ = settings;
  for (auto& [id, link] : links_) {
    if (!link->dead && (settings_.mode == FaultMode::kCut || CutOff(*link))) Reset(*link);
  }
  if (settings_.delay.count() == 0) {
    // No delay: what waits for an old one is due now (Heal forwards a stalled backlog).
    const Clock::time_point now = Clock::now();
    for (auto& [id, link] : links_) {
      link->connect_due = std::min(link->connect_due, now);
      for (Flow* flow : {&link->up, &link->down}) {
        for (Chunk& chunk : flow->queue) chunk.due = std::min(chunk.due, now);
      }
    }
  }
  // The next Pump() sets each link's epoll interest for the new mode.
}

void Forwarder::Accept() {
  for (;;) {
    const int fd = accept4(control_.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a client that gave up already: nothing to do.
    if (settings_.mode == FaultMode::kCut) {
      ResetAndClose(fd);
      continue;
    }
    NoDelay(fd);
    auto link = std::make_unique<Link>();
    link->id = next_id_++;
    link->fd[kClient] = fd;
    link->connect_due = Clock::now() + settings_.delay;
    control_.connections.fetch_add(1);
    Watch(*link, kClient, EPOLLIN);
    links_.emplace(link->id, std::move(link));
  }
}

void Forwarder::OnEvent(Link& link, Side side, uint32_t events) {
  if (side == kServer && link.connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
    int error = 0;
    socklen_t len = sizeof(error);
    getsockopt(link.fd[kServer], SOL_SOCKET, SO_ERROR, &error, &len);
    link.connecting = false;
    if (error != 0) {
      // The target refused: the client sees what it would see connecting there directly.
      Reset(link);
      return;
    }
    link.connected = true;
  }
  Flow& from = side == kClient ? link.up : link.down;
  if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !from.source_done &&
      (side == kClient || link.connected)) {
    Read(link, side);
  }
  // EPOLLOUT needs nothing here: Pump() retries what was blocked.
}

void Forwarder::Read(Link& link, Side side) {
  Flow& flow = side == kClient ? link.up : link.down;
  char buffer[kReadSize];
  for (;;) {
    const ssize_t n = read(link.fd[side], buffer, sizeof(buffer));
    if (n > 0) {
      if (side == kClient) {
        control_.client_bytes.fetch_add(static_cast<uint64_t>(n));
        if (link.head.size() < kHeadSize) {
          link.head.append(buffer, std::min(static_cast<size_t>(n), kHeadSize - link.head.size()));
          // Before anything is forwarded: a cut-off client's request never arrives.
          if (CutOff(link)) {
            Reset(link);
            return;
          }
        }
      }
      Enqueue(flow, Chunk::Kind::kData, std::string(buffer, static_cast<size_t>(n)));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    Enqueue(flow, n == 0 ? Chunk::Kind::kEnd : Chunk::Kind::kReset);
    flow.source_done = true;
    return;
  }
}

bool Forwarder::CutOff(const Link& link) const {
  for (const std::string& needle : settings_.cut_matching) {
    if (link.head.find(needle) != std::string::npos) return true;
  }
  return false;
}

void Forwarder::Enqueue(Flow& flow, Chunk::Kind kind, std::string bytes) {
  Chunk chunk;
  chunk.kind = kind;
  chunk.bytes = std::move(bytes);
  chunk.due = Clock::now() + settings_.delay;
  // A shorter delay set meanwhile must not let a chunk overtake the ones before it.
  if (!flow.queue.empty()) chunk.due = std::max(chunk.due, flow.queue.back().due);
  flow.queue.push_back(std::move(chunk));
}

void Forwarder::Pump(Link& link, Clock::time_point now) {
  const bool stalled = settings_.mode == FaultMode::kStall;
  if (!stalled) {
    if (link.fd[kServer] < 0 && now >= link.connect_due) Connect(link);
    if (link.dead) return;
    if (link.connected && !Forward(link, link.up, kServer, now)) return;
    if (!Forward(link, link.down, kClient, now)) return;
    if (link.up.source_done && link.down.source_done && link.up.queue.empty() &&
        link.down.queue.empty()) {
      Close(link, /*reset=*/false);
      return;
    }
  }
  // Reads go on while stalled; writes wait, so a blocked write would only spin.
  auto interest = [&](Side side) {
    const Flow& from = side == kClient ? link.up : link.down;
    const Flow& to = side == kClient ? link.down : link.up;
    uint32_t events = 0;
    if (!from.source_done && (side == kClient || link.connected)) events |= EPOLLIN;
    if (!stalled && to.blocked) events |= EPOLLOUT;
    if (side == kServer && link.connecting) events |= EPOLLOUT;
    return events;
  };
  Watch(link, kClient, interest(kClient));
  if (link.fd[kServer] >= 0) Watch(link, kServer, interest(kServer));
}

void Forwarder::Connect(Link& link) {
  const int fd = socket(control_.target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    Reset(link);
    return;
  }
  NoDelay(fd);
  link.fd[kServer] = fd;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&control_.target), control_.target_len) == 0) {
    link.connected = true;
  } else if (errno == EINPROGRESS) {
    link.connecting = true;
  } else {
    Reset(link);
  }
}

bool Forwarder::Forward(Link& link, Flow& flow, Side side, Clock::time_point now) {
  flow.blocked = false;
  while (!flow.queue.empty() && flow.queue.front().due <= now) {
    Chunk& chunk = flow.queue.front();
    if (chunk.kind == Chunk::Kind::kReset) {
      Reset(link);
      return false;
    }
    if (chunk.kind == Chunk::Kind::kEnd) {
      shutdown(link.fd[side], SHUT_WR);
      flow.queue.pop_front();
      continue;
    }
    const ssize_t n = send(link.fd[side], chunk.bytes.data() + chunk.sent,
                           chunk.bytes.size() - chunk.sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      flow.blocked = true;
      return true;
    }
    if (n < 0) {
      // The destination is gone: tell the other side the same way.
      Reset(link);
      return false;
    }
    chunk.sent += static_cast<size_t>(n);
    if (chunk.sent == chunk.bytes.size()) flow.queue.pop_front();
  }
  return true;
}

void Forwarder::Watch(Link& link, Side side, uint32_t events) {
  if (link.events[side] == events) return;
  // A socket with nothing to wait for leaves epoll altogether: a level-triggered EPOLLHUP
  // on a closed peer would otherwise wake the loop without end.
  if (events == 0) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, link.fd[side], nullptr);
  } else {
    epoll_event event{.events = events, .data = {.u64 = link.id << 1 | side}};
    epoll_ctl(epoll_fd_, link.events[side] == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, link.fd[side],
              &event);
  }
  link.events[side] = events;
}

void Forwarder::Reset(Link& link) { Close(link, /*reset=*/true); }

void Forwarder::Close(Link& link, bool reset) {
  if (link.dead) return;
  for (int side : {kClient, kServer}) {
    if (link.fd[side] < 0) continue;
    // Closing a descriptor removes it from epoll.
    if (reset) {
      ResetAndClose(link.fd[side]);
    } else {
      close(link.fd[side]);
    }
    link.fd[side] = -1;
  }
  link.dead = true;
  control_.connections.fetch_sub(1);
}

int Forwarder::TimeoutMs(Clock::time_point now) const {
  if (settings_.mode == FaultMode::kStall) return -1;
  Clock::time_point next = Clock::time_point::max();
  for (const auto& [id, link] : links_) {
    if (link->dead) continue;
    if (link->fd[kServer] < 0) next = std::min(next, link->connect_due);
    if (link->connected && !link->up.blocked && !link->up.queue.empty()) {
      next = std::min(next, link->up.queue.front().due);
    }
    if (!link->down.blocked && !link->down.queue.empty()) {
      next = std::min(next, link->down.queue.front().due);
    }
  }
  if (next == Clock::time_point::max()) return -1;
  if (next <= now) return 0;
  // Rounded up: a chunk never leaves before its time.
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(next - now).count());
}

}  // namespace baton::tools
