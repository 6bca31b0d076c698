#pragma once

// HTTP GETs of a baton process's endpoints (its Prometheus metrics, `baton web`'s pages) over
// real HTTP, for the tests.

#include <map>
#include <optional>
#include <string>

namespace baton::test_support {

// One scrape: every sample line of the text format, by its series as printed
// (`baton_is_active{group="svc",lease="active"}`), with its value.
using Samples = std::map<std::string, double>;

// One HTTP/1.0 GET of `path` from `address` ("127.0.0.1:PORT"): the status code and the body,
// or nothing when the connection failed. A 2 s bound on each step.
struct HttpReply {
  int status = 0;
  std::string headers;  // The header lines, as received.
  std::string body;
};
std::optional<HttpReply> HttpGet(const std::string& address, const std::string& path);

// GET http://`address`/metrics (address "127.0.0.1:PORT"), with a 2 s bound on each step.
// The samples, or nothing when the server did not answer 200.
std::optional<Samples> Scrape(const std::string& address);

// The value of `series`, or nothing when the scrape has no such line.
std::optional<double> ValueOf(const Samples& samples, const std::string& series);

// The sum of every series whose text starts with `prefix` (a name and some of its labels:
// `baton_lease_losses_total{cause=`), 0 when none.
double SumOf(const Samples& samples, const std::string& prefix);

// The "metrics at http://ADDRESS/metrics" address a baton process logged to `log_path`, or
// nothing yet.
std::optional<std::string> LoggedMetricsAddress(const std::string& log_path);
// The "web page at http://ADDRESS/" address `baton web` logged to `log_path`, or nothing yet.
std::optional<std::string> LoggedWebAddress(const std::string& log_path);

}  // namespace baton::test_support
