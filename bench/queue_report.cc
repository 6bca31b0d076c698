#include "queue_report.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <tuple>

#include "report.h"

namespace baton::bench {
namespace {

using nlohmann::json;

std::string Fixed(double value, int decimals = 1) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
  return buf;
}

std::string Int(double value) { return Fixed(value, 0); }

double Median(std::vector<double> v) { return Percentile(std::move(v), 50); }

std::string KindOf(const json& j) { return j.value("kind", ""); }

// Median jobs/s of the peer's rows of `mode` at `concurrency` (any when 0); nullopt if none.
std::optional<double> PeerRate(const std::vector<json>& results, const std::string& mode,
                               int concurrency) {
  std::vector<double> rates;
  for (const json& j : results) {
    if (KindOf(j) != "peer" || j.value("mode", "") != mode || !j.value("ok", false)) continue;
    if (concurrency != 0 && j.value("concurrency", 0) != concurrency) continue;
    if (j.value("queue_names", false)) continue;  // A variant, not the mode itself.
    rates.push_back(j.value("jobs_per_s", 0.0));
  }
  if (rates.empty()) return std::nullopt;
  return Median(rates);
}

// The best default-mode peer rate over the concurrencies measured.
std::optional<std::pair<double, int>> BestDefault(const std::vector<json>& results) {
  std::optional<std::pair<double, int>> best;
  std::map<int, bool> seen;
  for (const json& j : results) {
    if (KindOf(j) != "peer" || j.value("mode", "") != "default") continue;
    const int c = j.value("concurrency", 0);
    if (seen[c]) continue;
    seen[c] = true;
    if (std::optional<double> r = PeerRate(results, "default", c);
        r && (!best || *r > best->first)) {
      best = std::pair{*r, c};
    }
  }
  return best;
}

std::string Ratio(double ours, std::optional<double> theirs) {
  if (!theirs || *theirs <= 0) return "—";
  return Fixed(ours / *theirs, 2) + "×";
}

std::string Verdict(bool met, const std::string& bound) {
  return bound + (met ? ": met" : ": **missed**");
}

}  // namespace

std::string FormatThroughputTable(const std::vector<json>& results) {
  using Key =
      std::tuple<std::string, std::string, int, int, int>;  // store mode tenants slots workers
  std::map<Key, std::vector<const json*>> groups;
  std::vector<Key> order;
  for (const json& j : results) {
    if (KindOf(j) != "throughput") continue;
    Key key{j.value("store", ""), j.value("mode", ""), j.value("tenants", 0), j.value("slots", 0),
            j.value("workers", 1)};
    if (groups.find(key) == groups.end()) order.push_back(key);
    groups[key].push_back(&j);
  }
  const std::optional<std::pair<double, int>> best_default = BestDefault(results);
  const std::optional<double> local_queue = PeerRate(results, "localQueue", 0);
  std::string out =
      "| store | mode | tenants | slots | items | runs | items/s (median) | min–max | "
      "× gw default, same concurrency | × gw default, best | × gw localQueue | must | goal | "
      "account |\n"
      "|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|---|\n";
  for (const Key& key : order) {
    const auto& [store, mode, tenants, slots, workers] = key;
    const std::vector<const json*>& rows = groups[key];
    std::vector<double> rates;
    bool ok = true;
    std::string skipped;
    for (const json* j : rows) {
      if (!j->value("skipped", "").empty()) {
        skipped = j->value("skipped", "");
        continue;
      }
      ok = ok && j->value("ok", false);
      if (j->value("items_per_s", 0.0) > 0) rates.push_back(j->value("items_per_s", 0.0));
    }
    const std::string slots_text = workers == 1
                                       ? std::to_string(slots)
                                       : std::to_string(workers) + " × " + std::to_string(slots);
    std::string row = "| " + store + " | " + mode + " | " + std::to_string(tenants) + " | " +
                      slots_text + " | " + std::to_string(rows.front()->value("items", 0)) + " | ";
    if (!skipped.empty() && rates.empty() && ok) {  // Measured rows win over skipped ones.
      out += row + "— | skipped: " + skipped + " | | | | | | | TODO |\n";
      continue;
    }
    if (rates.empty()) {
      out += row + std::to_string(rows.size()) + " | — | — | — | — | — | — | — | **broken** |\n";
      continue;
    }
    const double rate = Median(rates);
    row += std::to_string(rates.size()) + " | " + Int(rate) + " | " +
           Int(*std::min_element(rates.begin(), rates.end())) + "–" +
           Int(*std::max_element(rates.begin(), rates.end())) + " | ";
    const bool postgres = store == "postgresql";
    const bool callback = mode.rfind("callback", 0) == 0;
    if (postgres) {
      row += Ratio(rate, PeerRate(results, "default", slots * workers)) + " | " +
             Ratio(rate, best_default ? std::optional(best_default->first) : std::nullopt) + " | " +
             Ratio(rate, local_queue) + " | ";
    } else {
      row += "— | — | — | ";
    }
    if (callback && postgres && best_default) {
      row += Verdict(rate > best_default->first, "> gw default (" + Int(best_default->first) +
                                                     "/s at concurrency " +
                                                     std::to_string(best_default->second) + ")") +
             " | ";
      row += local_queue ? Verdict(rate >= 2 * *local_queue,
                                   "≥ 2 × gw localQueue (" + Int(2 * *local_queue) + "/s)")
                         : std::string("—");
    } else if (!callback) {
      row += Verdict(rate >= 500, "≥ 500/s") + " | fork/exec-bound";
    } else {
      row += "— | —";
    }
    out += row + " | " + (ok ? "exact" : "**broken**") + " |\n";
  }
  return out;
}

std::string FormatPeerTable(const std::vector<json>& results) {
  std::string out =
      "| peer | mode | concurrency | localQueue | completeJobBatchDelay | jobs | queue names | "
      "jobs/s | seconds | account |\n"
      "|---|---|---:|---:|---:|---:|---|---:|---:|---|\n";
  bool any = false;
  for (const json& j : results) {
    if (KindOf(j) != "peer") continue;
    any = true;
    if (!j.value("skipped", "").empty()) {
      out += "| graphile-worker | skipped: " + j.value("skipped", "") + " | | | | | | | | |\n";
      continue;
    }
    out += "| graphile-worker " + j.value("version", "") + " | " + j.value("mode", "") + " | " +
           std::to_string(j.value("concurrency", 0)) + " | " +
           std::to_string(j.value("local_queue", -1)) + " | " +
           std::to_string(j.value("complete_job_batch_delay", -1)) + " | " +
           std::to_string(j.value("jobs", 0)) + " | " +
           (j.value("queue_names", false)
                ? "one per tenant (" + std::to_string(j.value("tenants", 0)) + ")"
                : std::string("none (tenant in payload)")) +
           " | " + Int(j.value("jobs_per_s", 0.0)) + " | " + Fixed(j.value("seconds", 0.0), 2) +
           " | " + (j.value("ok", false) ? "exact" : "**broken**") + " |\n";
  }
  return any ? out : "";
}

std::string FormatTimingTable(const std::vector<json>& results) {
  std::string out =
      "| what | store | samples | p50 ms | p99 ms | max ms | must (p99) | goal (p99) | notes |\n"
      "|---|---|---:|---:|---:|---:|---|---|---|\n";
  const auto row = [&out](const std::string& what, const json& j, const json& s,
                          std::optional<double> must, std::optional<double> goal,
                          const std::string& notes) {
    const double p99 = s.value("p99_ms", 0.0);
    const bool have = s.value("samples", 0) > 0;
    out += "| " + what + " | " + j.value("store", "") + " | " +
           std::to_string(s.value("samples", 0)) + " | " +
           (have ? Fixed(s.value("p50_ms", 0.0)) : "—") + " | " + (have ? Fixed(p99) : "—") +
           " | " + (have ? Fixed(s.value("max_ms", 0.0)) : "—") + " | " +
           (must && have ? Verdict(p99 <= *must, "≤ " + Int(*must)) : "—") + " | " +
           (goal && have ? Verdict(p99 <= *goal, "≤ " + Int(*goal)) : "—") + " | " + notes +
           (j.value("ok", true) ? "" : " **broken**") + " |\n";
  };
  for (const json& j : results) {
    const std::string kind = KindOf(j);
    if (kind == "latency") {
      row("offer → claim, idle worker", j, j, 10, 2, "1 slot; one offer at a time");
    } else if (kind == "stuck") {
      const std::string vis = Int(j.value("visibility_ms", 0)) + " ms; rescuer " +
                              j.value("rescuer", "started after the claim");
      row("stuck item re-claim − visibility, from the stuck claim", j, j["after_claim"], 100, 30,
          "visibility " + vis +
              "; from the stuck Worker sending its claim to the rescuer's callback");
      row("stuck item re-claim − visibility, from the SIGKILL", j, j, std::nullopt, std::nullopt,
          "killed right after the claim, so a little under the row above");
    } else if (kind == "heartbeat") {
      const std::string setup = std::to_string(j.value("instances", 0)) + " Electors, heartbeat " +
                                std::to_string(j.value("heartbeat_ms", 0)) + " ms";
      row("heartbeat, queue idle", j, j["idle"], std::nullopt, std::nullopt, setup);
      row("heartbeat, queue at full speed", j, j["loaded"], 50, 20,
          setup + "; queue " + Int(j["loaded"].value("queue_items_per_s", 0.0)) +
              " items/s meanwhile (" + std::to_string(j.value("slots", 0)) + " slots, " +
              std::to_string(j.value("tenants", 0)) + " tenants)");
    }
  }
  return out;
}

std::string FormatProblems(const std::vector<json>& results) {
  std::string out;
  for (const json& j : results) {
    if (!j.contains("problems")) continue;
    for (const json& p : j["problems"]) {
      out += "- " + j.value("kind", "") + " " + j.value("store", "") + " " + j.value("mode", "") +
             (j.contains("tenants") ? " tenants " + std::to_string(j.value("tenants", 0)) : "") +
             (j.contains("slots") ? " slots " + std::to_string(j.value("slots", 0)) : "") + ": " +
             p.get<std::string>() + "\n";
    }
  }
  return out;
}

}  // namespace baton::bench
