// `baton enqueue`: adds one item per key to a queue and prints the new item ids.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "commands.h"
#include "store_url.h"

namespace baton::cli {
namespace {

Error Invalid(std::string message) {
  return Error(ErrorCode::kInvalidArgument, std::move(message));
}

// The whole file ("-": standard input), or an error naming it.
Result<std::string> ReadAll(const std::string& path, const std::string& flag) {
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
    return text.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Invalid(flag + " " + path + ": no such file or not readable");
  text << in.rdbuf();
  return text.str();
}

// One key a line; blank lines and lines starting with '#' are skipped.
std::vector<std::string> KeysOf(const std::string& text) {
  std::vector<std::string> keys;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    keys.push_back(line);
  }
  return keys;
}

struct EnqueueConfig {
  Common common;
  OfferRequest request;
};

Result<EnqueueConfig> ResolveEnqueue(const Settings& settings, std::vector<std::string> keys) {
  EnqueueConfig config;
  auto common = ResolveCommon(settings, true);
  if (!common) return common.error();
  config.common = *common;
  auto queue = ResolveQueueName(settings);
  if (!queue) return queue.error();
  config.request.queue = {config.common.group, *queue};
  config.request.unique = settings.GetFlag("unique");
  if (auto file = settings.Get("keys-file")) {
    auto text = ReadAll(*file, settings.Source("keys-file"));
    if (!text) return text.error();
    for (std::string& key : KeysOf(*text)) keys.push_back(std::move(key));
  }
  if (keys.empty()) {
    return Invalid(
        "baton enqueue needs at least one key (a tenant id): give them as arguments "
        "or in --keys-file, for example baton enqueue --group g --queue q -- acme");
  }
  std::string payload;
  if (auto file = settings.Get("payload-file")) {
    auto text = ReadAll(*file, settings.Source("payload-file"));
    if (!text) return text.error();
    payload = std::move(*text);
    if (payload.size() > kMaxPayloadBytes) {
      return Invalid(settings.Source("payload-file") + " " + *file + " holds " +
                     std::to_string(payload.size()) + " bytes; a payload may hold at most " +
                     std::to_string(kMaxPayloadBytes));
    }
  }
  OfferItem item;
  item.payload = payload;
  if (auto priority = settings.GetInt("item-priority", -1000000, 1000000); !priority) {
    return priority.error();
  } else if (*priority) {
    item.priority = static_cast<int>(**priority);
  }
  if (auto delay = settings.GetDuration("delay"); !delay) {
    return delay.error();
  } else if (*delay) {
    item.delay = **delay;
  }
  if (auto ttl = settings.GetDuration("item-ttl"); !ttl) {
    return ttl.error();
  } else {
    item.ttl = *ttl;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (auto valid = ValidateTenant(keys[i], "key " + std::to_string(i + 1)); !valid) {
      return valid.error();
    }
    item.tenant = keys[i];
    config.request.items.push_back(item);
  }
  return config;
}

}  // namespace

int EnqueueCommand(const Settings& settings, const std::vector<std::string>& keys) {
  auto config = ResolveEnqueue(settings, keys);
  if (!config) return ReportError(config.error());
  auto queue = OpenQueue(config->common.store_url, Clock::Real(), {.store = config->common.store});
  if (!queue) return ReportError(queue.error());
  auto reply = (*queue)->Offer(config->request);
  if (!reply) return ReportError(reply.error());
  size_t skipped = 0;
  for (const std::optional<uint64_t>& id : reply->ids) {
    if (id) {
      std::printf("%llu\n", static_cast<unsigned long long>(*id));
    } else {
      std::printf("skipped\n");
      ++skipped;
    }
  }
  if (skipped > 0) {
    std::fprintf(stderr,
                 "baton: %zu key(s) skipped: they have a pending, waiting or running item "
                 "already (--unique)\n",
                 skipped);
  }
  return kExitOk;
}

}  // namespace baton::cli
