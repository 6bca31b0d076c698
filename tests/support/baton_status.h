#pragma once

// `baton status --json`, run and read by tests.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.h"

namespace baton::test_support {

// One run of `baton status --json`. Exit code 0: an instance is active; 3: none is.
class StatusView final {
 public:
  StatusView(CommandResult result, nlohmann::json json)
      : result_(std::move(result)), json_(std::move(json)) {}

  const CommandResult& result() const { return result_; }
  const nlohmann::json& json() const { return json_; }
  // The command ended with 0 or 3 and printed a JSON object.
  bool valid() const;

  std::optional<std::string> active() const;  // The id of the active instance, if any.
  std::vector<std::string> member_ids() const;
  bool has_member(const std::string& id) const;
  std::optional<nlohmann::json> member(const std::string& id) const;
  std::optional<std::string> role(const std::string& id) const;  // "active" or "passive"
  int active_members() const;                                    // Members whose role is "active".
  std::optional<int64_t> lease_token() const;

  std::string Describe() const;  // For failure messages.

 private:
  CommandResult result_;
  nlohmann::json json_;
};

StatusView RunStatus(const std::string& baton_bin, const std::string& store,
                     const std::string& group);

}  // namespace baton::test_support
