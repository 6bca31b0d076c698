#include "fault_proxy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "forwarder.h"

namespace baton::tools {
namespace {

std::runtime_error SystemError(const std::string& what) {
  return std::runtime_error("fault proxy: " + what + ": " + strerror(errno));
}

void ResolveTarget(const std::string& host, int port, ProxyControl& control) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    throw std::runtime_error("fault proxy: cannot resolve target " + host + ":" +
                             std::to_string(port) + ": " + gai_strerror(rc));
  }
  std::memcpy(&control.target, found->ai_addr, found->ai_addrlen);
  control.target_len = found->ai_addrlen;
  freeaddrinfo(found);
}

// Returns the port it listens on.
int Listen(int listen_port, ProxyControl& control) {
  control.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (control.listen_fd < 0) throw SystemError("socket");
  const int one = 1;
  setsockopt(control.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(listen_port));
  if (bind(control.listen_fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    throw SystemError("cannot listen on 127.0.0.1:" + std::to_string(listen_port));
  }
  if (listen(control.listen_fd, SOMAXCONN) != 0) throw SystemError("listen");
  socklen_t len = sizeof(address);
  if (getsockname(control.listen_fd, reinterpret_cast<sockaddr*>(&address), &len) != 0) {
    throw SystemError("getsockname");
  }
  return ntohs(address.sin_port);
}

void CloseFds(ProxyControl& control) {
  if (control.listen_fd >= 0) close(control.listen_fd);
  if (control.wake_fd >= 0) close(control.wake_fd);
  control.listen_fd = control.wake_fd = -1;
}

}  // namespace

std::unique_ptr<FaultProxy> FaultProxy::Start(const std::string& target_host, int target_port,
                                              int listen_port) {
  auto control = std::make_unique<ProxyControl>();
  int port = 0;
  std::unique_ptr<Forwarder> forwarder;
  try {
    ResolveTarget(target_host, target_port, *control);
    port = Listen(listen_port, *control);
    control->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (control->wake_fd < 0) throw SystemError("eventfd");
    forwarder = std::make_unique<Forwarder>(*control);
  } catch (...) {
    CloseFds(*control);
    throw;
  }
  std::unique_ptr<FaultProxy> proxy(new FaultProxy(std::move(control), port));
  ProxyControl* shared = proxy->control_.get();
  proxy->thread_ = std::thread([shared, forwarder = std::move(forwarder)]() mutable {
    forwarder->Run();
    forwarder.reset();  // Closes the connections before callers are told it has stopped.
    {
      std::lock_guard lock(shared->mu);
      shared->running = false;
    }
    shared->applied_cv.notify_all();
  });
  return proxy;
}

FaultProxy::FaultProxy(std::unique_ptr<ProxyControl> control, int port)
    : control_(std::move(control)), port_(port) {}

FaultProxy::~FaultProxy() {
  {
    std::lock_guard lock(control_->mu);
    control_->stop = true;
  }
  const uint64_t one = 1;
  (void)!write(control_->wake_fd, &one, sizeof(one));
  if (thread_.joinable()) thread_.join();
  CloseFds(*control_);
}

template <typename Change>
void FaultProxy::Command(Change change) {
  std::unique_lock lock(control_->mu);
  change(control_->wanted);
  const uint64_t ticket = ++control_->requested;
  const uint64_t one = 1;
  (void)!write(control_->wake_fd, &one, sizeof(one));
  control_->applied_cv.wait(lock,
                            [&] { return control_->applied >= ticket || !control_->running; });
}

void FaultProxy::SetDelay(std::chrono::milliseconds delay) {
  Command([delay](FaultSettings& s) { s.delay = std::max(delay, std::chrono::milliseconds(0)); });
}

void FaultProxy::Stall() {
  Command([](FaultSettings& s) { s.mode = FaultMode::kStall; });
}

void FaultProxy::Cut() {
  Command([](FaultSettings& s) { s.mode = FaultMode::kCut; });
}

void FaultProxy::CutMatching(const std::string& needle) {
  Command([&needle](FaultSettings& s) { s.cut_matching.push_back(needle); });
}

void FaultProxy::Heal() {
  Command([](FaultSettings& s) { s = FaultSettings{}; });
}

uint64_t FaultProxy::client_bytes() const { return control_->client_bytes.load(); }

int FaultProxy::connections() const { return control_->connections.load(); }

}  // namespace baton::tools
