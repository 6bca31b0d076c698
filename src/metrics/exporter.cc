#include "metrics/exporter.h"

#include <arpa/inet.h>

#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include <charconv>
#include <exception>

#include "metrics/event_metrics.h"
#include "metrics/queue_depth.h"

namespace baton::metrics {
namespace {

struct Endpoint {
  std::string host;  // As the HTTP server takes it: "127.0.0.1" or "[::1]".
  int port = 0;
};

Result<Endpoint> ParseAddress(const std::string& address) {
  const auto invalid = [&address](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument,
                 "--metrics " + address + ": " + why +
                     " (give HOST:PORT with an IP address, for example 127.0.0.1:9100, or a "
                     "port alone for 127.0.0.1)");
  };
  Endpoint endpoint{.host = "127.0.0.1"};
  std::string port = address;
  const size_t colon = address.rfind(':');
  if (colon != std::string::npos) {
    std::string host = address.substr(0, colon);
    port = address.substr(colon + 1);
    if (host == "localhost") host = "127.0.0.1";
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      in6_addr v6{};
      if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &v6) != 1) {
        return invalid("\"" + host + "\" is not an IPv6 address");
      }
      endpoint.host = host;
    } else if (!host.empty()) {
      in_addr v4{};
      if (inet_pton(AF_INET, host.c_str(), &v4) != 1) {
        return invalid("\"" + host + "\" is not an IPv4 address, [IPv6] address or localhost");
      }
      endpoint.host = host;
    }
  }
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), endpoint.port);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || endpoint.port < 0 ||
      endpoint.port > 65535) {
    return invalid("\"" + port + "\" is not a port number from 0 to 65535");
  }
  return endpoint;
}

}  // namespace

Result<std::unique_ptr<Exporter>> Exporter::Start(const std::string& address) {
  Result<Endpoint> endpoint = ParseAddress(address);
  if (!endpoint) return endpoint.error();
  std::unique_ptr<Exporter> exporter(new Exporter());
  exporter->registry_ = std::make_shared<prometheus::Registry>();
  exporter->events_ = std::make_unique<EventMetrics>(*exporter->registry_);
  exporter->queues_ = std::make_shared<QueueDepth>();
  const std::string listen = endpoint->host + ":" + std::to_string(endpoint->port);
  try {
    // One thread: a scrape every few seconds needs no more.
    exporter->exposer_ = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", listen, "num_threads", "1"});
  } catch (const std::exception& e) {
    return Error(ErrorCode::kUnavailable,
                 "--metrics cannot listen on " + listen +
                     ": the port is in use or the address is not this host's (" + e.what() +
                     "); choose another with --metrics HOST:PORT");
  }
  exporter->exposer_->RegisterCollectable(exporter->registry_);
  exporter->exposer_->RegisterCollectable(exporter->queues_);
  const std::vector<int> ports = exporter->exposer_->GetListeningPorts();
  exporter->address_ =
      endpoint->host + ":" + std::to_string(ports.empty() ? endpoint->port : ports.front());
  return exporter;
}

Exporter::~Exporter() {
  // The server's threads scrape the registry and the queues: stop them before either goes.
  exposer_.reset();
}

EventSink& Exporter::events() { return *events_; }

void Exporter::WatchQueue(Queue& queue, const QueueKey& key) { queues_->Add(queue, key); }

}  // namespace baton::metrics
