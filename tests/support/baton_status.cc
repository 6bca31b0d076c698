#include "support/baton_status.h"

namespace baton::test_support {

bool StatusView::valid() const {
  return (result_.Exited(0) || result_.Exited(3)) && json_.is_object() &&
         json_.contains("members") && json_["members"].is_array();
}

std::optional<std::string> StatusView::active() const {
  if (!valid() || !json_.contains("active") || !json_["active"].is_string()) return std::nullopt;
  return json_["active"].get<std::string>();
}

std::vector<std::string> StatusView::member_ids() const {
  std::vector<std::string> ids;
  if (!valid()) return ids;
  for (const nlohmann::json& m : json_["members"]) {
    if (m.contains("id") && m["id"].is_string()) ids.push_back(m["id"].get<std::string>());
  }
  return ids;
}

bool StatusView::has_member(const std::string& id) const { return member(id).has_value(); }

std::optional<nlohmann::json> StatusView::member(const std::string& id) const {
  if (!valid()) return std::nullopt;
  for (const nlohmann::json& m : json_["members"]) {
    if (m.value("id", "") == id) return m;
  }
  return std::nullopt;
}

std::optional<std::string> StatusView::role(const std::string& id) const {
  const std::optional<nlohmann::json> m = member(id);
  if (!m || !m->contains("role") || !(*m)["role"].is_string()) return std::nullopt;
  return (*m)["role"].get<std::string>();
}

int StatusView::active_members() const {
  int count = 0;
  if (!valid()) return count;
  for (const nlohmann::json& m : json_["members"]) {
    if (m.value("role", "") == "active") ++count;
  }
  return count;
}

std::optional<int64_t> StatusView::lease_token() const {
  if (!valid() || !json_.contains("lease") || !json_["lease"].is_object()) return std::nullopt;
  const nlohmann::json& token = json_["lease"]["token"];
  if (!token.is_number_integer()) return std::nullopt;
  return token.get<int64_t>();
}

std::string StatusView::Describe() const { return "baton status --json: " + result_.Describe(); }

StatusView RunStatus(const std::string& baton_bin, const std::string& store,
                     const std::string& group) {
  CommandResult result =
      RunCommand({baton_bin, "status", "--store", store, "--group", group, "--json"});
  nlohmann::json json = nlohmann::json::parse(result.out, nullptr, /*allow_exceptions=*/false);
  return StatusView(std::move(result), std::move(json));
}

}  // namespace baton::test_support
