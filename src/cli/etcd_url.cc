#include "etcd_url.h"

#include <cstdlib>
#include <tuple>
#include <vector>

namespace baton::cli {
namespace {

Error Invalid(const std::string& message) { return Error(ErrorCode::kInvalidArgument, message); }

std::vector<std::string> Split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t at = text.find(separator, start);
    parts.push_back(text.substr(start, at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

}  // namespace

bool IsEtcdUrl(const std::string& url) {
  return url.rfind("etcd://", 0) == 0 || url.rfind("etcds://", 0) == 0;
}

Result<EtcdStoreOptions> ParseEtcdUrl(const std::string& url, const EtcdSettings& given) {
  EtcdStoreOptions options;
  options.tls = url.rfind("etcds://", 0) == 0;
  std::string rest = url.substr(options.tls ? 8 : 7);
  const std::string scheme = options.tls ? "etcds://" : "etcd://";

  std::string query;
  if (const size_t q = rest.find('?'); q != std::string::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  if (const size_t slash = rest.find('/'); slash != std::string::npos) {
    std::string prefix = rest.substr(slash + 1);
    rest = rest.substr(0, slash);
    if (!prefix.empty()) options.prefix = prefix.back() == '/' ? prefix : prefix + "/";
  }
  if (const size_t at = rest.rfind('@'); at != std::string::npos) {
    const std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const size_t colon = userinfo.find(':');
    options.user = userinfo.substr(0, colon);
    if (colon != std::string::npos) options.password = userinfo.substr(colon + 1);
  }
  if (rest.empty()) {
    return Invalid("--store \"" + scheme + "\" names no endpoint: give " + scheme +
                   "HOST:PORT[,HOST:PORT…], for example " + scheme + "10.0.0.1:2379,10.0.0.2:2379");
  }
  for (std::string endpoint : Split(rest, ',')) {
    if (endpoint.empty()) return Invalid("--store has an empty etcd endpoint (two commas?)");
    const bool bracketed = endpoint.front() == '[';
    const size_t colon = endpoint.rfind(':');
    if (colon == std::string::npos || (bracketed && colon < endpoint.find(']'))) {
      endpoint += ":2379";
    }
    options.endpoints.push_back(endpoint);
  }
  if (!query.empty()) {
    for (const std::string& pair : Split(query, '&')) {
      const size_t eq = pair.find('=');
      const std::string key = pair.substr(0, eq);
      const std::string value = eq == std::string::npos ? "" : pair.substr(eq + 1);
      std::string* field = key == "cacert" ? &options.ca_file
                           : key == "cert" ? &options.cert_file
                           : key == "key"  ? &options.key_file
                                           : nullptr;
      if (field == nullptr) {
        return Invalid("--store has an unknown etcd parameter \"" + key +
                       "\": the known ones are cacert, cert and key");
      }
      if (value.empty()) return Invalid("--store's etcd parameter " + key + " is empty");
      if (!options.tls) {
        return Invalid("--store's " + key + "= needs TLS: write etcds:// instead of etcd://");
      }
      *field = value;
    }
  }
  for (auto [field, value, name] : {std::tuple{&options.ca_file, &given.ca_file, "etcd-cacert"},
                                    std::tuple{&options.cert_file, &given.cert_file, "etcd-cert"},
                                    std::tuple{&options.key_file, &given.key_file, "etcd-key"}}) {
    if (value->empty() || !field->empty()) continue;
    if (!options.tls) return Invalid(std::string(name) + " needs TLS: write etcds:// in --store");
    *field = *value;
  }
  if (options.user.empty() && !given.user.empty()) {
    options.user = given.user;
    options.password = given.password;
  }
  if (options.user.empty()) {
    if (const char* env = std::getenv("ETCDCTL_USER"); env != nullptr && *env != '\0') {
      const std::string user = env;
      const size_t colon = user.find(':');
      options.user = user.substr(0, colon);
      if (colon != std::string::npos) options.password = user.substr(colon + 1);
    }
    if (const char* env = std::getenv("ETCDCTL_PASSWORD"); env != nullptr && *env != '\0') {
      options.password = env;
    }
  }
  if (options.password.empty()) options.password = given.password;
  if (options.cert_file.empty() != options.key_file.empty()) {
    return Invalid(
        "an etcd client certificate needs both its files: cert= and key= in --store, "
        "or --etcd-cert and --etcd-key");
  }
  return options;
}

}  // namespace baton::cli
