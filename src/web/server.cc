#include "server.h"

#include <httplib.h>

#include <charconv>
#include <thread>

#include "html.h"
#include "json.h"
#include "page_model.h"

namespace baton::web {
namespace {

constexpr const char* kHtml = "text/html; charset=utf-8";

void Secure(httplib::Response& response) {
  if (UnsafeNoEscape()) return;
  response.set_header("Content-Security-Policy",
                      "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
                      "base-uri 'none'; form-action 'none'");
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("Referrer-Policy", "no-referrer");
  response.set_header("Cache-Control", "no-store");
}

void Problem(httplib::Response& response, int status, const std::string& title,
             const std::string& message, bool json) {
  response.status = status;
  if (json) {
    response.set_content(nlohmann::json{{"error", message}}.dump(), "application/json");
  } else {
    response.set_content(RenderProblem(title, message), kHtml);
  }
}

Result<std::pair<std::string, int>> ParseListen(const std::string& listen) {
  const auto invalid = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument,
                 "--listen " + listen + ": " + why +
                     " (give HOST:PORT with an IPv4 address, for example 127.0.0.1:8080, or a "
                     "port alone for 127.0.0.1)");
  };
  std::string host = "127.0.0.1";
  std::string port = listen;
  if (const size_t colon = listen.rfind(':'); colon != std::string::npos) {
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
    if (host == "localhost") host = "127.0.0.1";
    in_addr v4{};
    if (inet_pton(AF_INET, host.c_str(), &v4) != 1) {
      return invalid("\"" + host + "\" is not an IPv4 address or localhost");
    }
  }
  int number = -1;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || number < 0 ||
      number > 65535) {
    return invalid("\"" + port + "\" is not a port number from 0 to 65535");
  }
  return std::pair{host, number};
}

}  // namespace

Result<void> CheckListenAddress(const std::string& listen) {
  if (auto parsed = ParseListen(listen); !parsed) return parsed.error();
  return Ok();
}

struct WebServer::Impl {
  httplib::Server server;
  std::thread thread;
};

Result<std::unique_ptr<WebServer>> WebServer::Start(Store& store, Queue* queue,
                                                    const std::string& listen) {
  Result<std::pair<std::string, int>> endpoint = ParseListen(listen);
  if (!endpoint) return endpoint.error();
  auto impl = std::make_unique<Impl>();
  httplib::Server& server = impl->server;

  server.Get("/", [&store, queue](const httplib::Request&, httplib::Response& response) {
    Secure(response);
    Result<Overview> overview = ReadOverview(store, queue);
    if (!overview)
      return Problem(response, 503, "Store unavailable", overview.error().message(), false);
    response.set_content(RenderOverview(*overview), kHtml);
  });
  server.Get("/api/groups", [&store, queue](const httplib::Request&, httplib::Response& response) {
    Secure(response);
    Result<Overview> overview = ReadOverview(store, queue);
    if (!overview) return Problem(response, 503, "", overview.error().message(), true);
    response.set_content(OverviewJson(*overview).dump(), "application/json");
  });
  const auto group = [&store, queue](bool json) {
    return [&store, queue, json](const httplib::Request& request, httplib::Response& response) {
      Secure(response);
      if (!request.has_param("name")) {
        return Problem(response, 400, "No group", "Give the group as ?name=GROUP.", json);
      }
      const std::string name = request.get_param_value("name");
      Result<std::optional<GroupDetail>> detail = ReadGroup(store, queue, name);
      if (!detail)
        return Problem(response, 503, "Store unavailable", detail.error().message(), json);
      if (!*detail) {
        return Problem(response, 404, "No such group",
                       "The store has no group named \"" + name + "\".", json);
      }
      if (json) {
        response.set_content(GroupJson(**detail).dump(), "application/json");
      } else {
        response.set_content(RenderGroup(**detail), kHtml);
      }
    };
  };
  server.Get("/group", group(false));
  server.Get("/api/group", group(true));
  const auto queue_page = [queue](bool json) {
    return [queue, json](const httplib::Request& request, httplib::Response& response) {
      Secure(response);
      if (!request.has_param("group") || !request.has_param("name")) {
        return Problem(response, 400, "No queue", "Give the queue as ?group=GROUP&name=QUEUE.",
                       json);
      }
      const std::string group_name = request.get_param_value("group");
      const std::string name = request.get_param_value("name");
      if (queue == nullptr) {
        return Problem(response, 404, "No queues", "This store keeps no queues.", json);
      }
      Result<std::optional<QueueDetail>> detail = ReadQueue(*queue, group_name, name);
      if (!detail) {
        return Problem(response, 503, "Store unavailable", detail.error().message(), json);
      }
      if (!*detail) {
        return Problem(response, 404, "No such queue",
                       "Group \"" + group_name + "\" has no queue named \"" + name + "\".", json);
      }
      if (json) {
        response.set_content(QueueJson(**detail).dump(), "application/json");
      } else {
        response.set_content(RenderQueue(**detail), kHtml);
      }
    };
  };
  server.Get("/queue", queue_page(false));
  server.Get("/api/queue", queue_page(true));
  server.set_error_handler([](const httplib::Request& request, httplib::Response& response) {
    if (response.status != 404 || !response.body.empty()) return;
    Secure(response);
    response.set_content(RenderProblem("Not found", "Nothing here: " + request.path), kHtml);
  });

  const auto& [host, port] = *endpoint;
  int bound = port;
  if (port == 0) {
    bound = server.bind_to_any_port(host);
  } else if (!server.bind_to_port(host, port)) {
    bound = -1;
  }
  if (bound < 0) {
    return Error(ErrorCode::kUnavailable,
                 "--listen " + listen + ": cannot listen there (in use, or not this host's)");
  }
  impl->thread = std::thread([&server] { server.listen_after_bind(); });
  return std::unique_ptr<WebServer>(
      new WebServer(std::move(impl), host + ":" + std::to_string(bound)));
}

WebServer::WebServer(std::unique_ptr<Impl> impl, std::string address)
    : impl_(std::move(impl)), address_(std::move(address)) {}

WebServer::~WebServer() {
  impl_->server.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

}  // namespace baton::web
