#include "support/metrics_scrape.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <regex>
#include <sstream>

#include "support/wait.h"

namespace baton::test_support {
namespace {

// The whole HTTP response to a GET of `path`, or nothing when the connection failed.
std::optional<std::string> RawGet(const std::string& host, int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  timeval bound{.tv_sec = 2, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &bound, sizeof bound);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return std::nullopt;
  }
  const std::string request =
      "GET " + path + " HTTP/1.0\r\nHost: " + host + "\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return std::nullopt;
  }
  std::string response;
  char buffer[8192];
  while (true) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n < 0) {
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0) break;
    response.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  return response;
}

// The first match of `line`'s group 1 in the log at `log_path`.
std::optional<std::string> LoggedAddress(const std::string& log_path, const std::regex& line) {
  std::smatch match;
  for (const std::string& text : ReadLines(log_path)) {
    if (std::regex_search(text, match, line)) return match[1].str();
  }
  return std::nullopt;
}

}  // namespace

std::optional<HttpReply> HttpGet(const std::string& address, const std::string& path) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  auto response = RawGet(address.substr(0, colon), std::stoi(address.substr(colon + 1)), path);
  if (!response || response->rfind("HTTP/1.", 0) != 0) return std::nullopt;
  const size_t space = response->find(' ');
  const size_t end = response->find("\r\n\r\n");
  if (space == std::string::npos || end == std::string::npos) return std::nullopt;
  return HttpReply{.status = std::atoi(response->c_str() + space + 1),
                   .headers = response->substr(0, end),
                   .body = response->substr(end + 4)};
}

std::optional<Samples> Scrape(const std::string& address) {
  auto reply = HttpGet(address, "/metrics");
  if (!reply || reply->status != 200) return std::nullopt;
  Samples samples;
  std::istringstream lines(reply->body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == std::string::npos) continue;
    samples[line.substr(0, space)] = std::stod(line.substr(space + 1));
  }
  return samples;
}

std::optional<double> ValueOf(const Samples& samples, const std::string& series) {
  auto it = samples.find(series);
  if (it == samples.end()) return std::nullopt;
  return it->second;
}

double SumOf(const Samples& samples, const std::string& prefix) {
  double sum = 0;
  for (auto it = samples.lower_bound(prefix); it != samples.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    sum += it->second;
  }
  return sum;
}

std::optional<std::string> LoggedMetricsAddress(const std::string& log_path) {
  static const std::regex kLine(R"(metrics at http://([0-9.]+:[0-9]+)/metrics)");
  return LoggedAddress(log_path, kLine);
}

std::optional<std::string> LoggedWebAddress(const std::string& log_path) {
  static const std::regex kLine(R"(web page at http://([0-9.]+:[0-9]+)/)");
  return LoggedAddress(log_path, kLine);
}

}  // namespace baton::test_support
