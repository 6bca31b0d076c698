// Tenant lists for the scheduler: parsing a source's lines, checking and deduplicating ids,
// and the file source.
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "baton/scheduler.h"

namespace baton {
namespace {

class FileSource final : public TenantSource {
 public:
  explicit FileSource(std::string path) : path_(std::move(path)) {}

  Result<std::vector<std::string>> List(std::stop_token /*stop*/) override {
    std::ifstream in(path_, std::ios::binary);
    if (!in) {
      return Error(ErrorCode::kUnavailable,
                   "tenants file " + path_ + ": no such file or not readable");
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) return Error(ErrorCode::kUnavailable, "tenants file " + path_ + ": read error");
    return TenantLines(text.str(), /*comments=*/true);
  }

  std::string Describe() const override { return "tenants file " + path_; }

 private:
  const std::string path_;
};

// The start of `id` for a log line: control characters shown as '?', so a hostile id
// cannot forge log lines or move a terminal's cursor.
std::string Printable(std::string_view id) {
  std::string out;
  for (char c : id.substr(0, 40)) {
    out += static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c;
  }
  return id.size() > 40 ? out + "..." : out;
}

}  // namespace

std::vector<std::string> TenantLines(std::string_view text, bool comments) {
  std::vector<std::string> ids;
  size_t at = 0;
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(at, end - at);
    at = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (comments && line.front() == '#')) continue;
    ids.emplace_back(line);
  }
  return ids;
}

TenantList CleanTenants(std::vector<std::string> ids) {
  TenantList list;
  std::unordered_set<std::string> seen;
  seen.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    if (auto valid = ValidateTenant(
            ids[i], "id " + std::to_string(i + 1) + " (\"" + Printable(ids[i]) + "\")");
        !valid) {
      list.invalid.push_back(valid.error().message());
      continue;
    }
    if (!seen.insert(ids[i]).second) {
      ++list.duplicates;
      continue;
    }
    list.tenants.push_back(std::move(ids[i]));
  }
  return list;
}

std::unique_ptr<TenantSource> TenantFileSource(std::string path) {
  return std::make_unique<FileSource>(std::move(path));
}

}  // namespace baton
