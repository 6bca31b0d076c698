#include "html.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdio>

#include "baton/elector.h"

namespace baton::web {
namespace {

using std::chrono::system_clock;

// "4s", "3m 12s", "2h 5m", "3d 4h": how long ago, or how long left, for people.
std::string Human(std::chrono::nanoseconds d) {
  const bool negative = d < std::chrono::nanoseconds::zero();
  const long long s = std::chrono::duration_cast<std::chrono::seconds>(negative ? -d : d).count();
  char text[48];
  if (s < 60) {
    const double exact = std::chrono::duration<double>(negative ? -d : d).count();
    std::snprintf(text, sizeof text, exact < 10 ? "%.1fs" : "%.0fs", exact);
  } else if (s < 3600) {
    std::snprintf(text, sizeof text, "%lldm %llds", s / 60, s % 60);
  } else if (s < 86400) {
    std::snprintf(text, sizeof text, "%lldh %lldm", s / 3600, s % 3600 / 60);
  } else {
    std::snprintf(text, sizeof text, "%lldd %lldh", s / 86400, s % 86400 / 3600);
  }
  return (negative ? "-" : "") + std::string(text);
}

std::string Utc(system_clock::time_point at) { return FormatUtc(at, "%Y-%m-%d %H:%M:%S UTC"); }

std::string GroupLink(const std::string& name) {
  return "<a href=\"group?name=" + EscapeHtml(EscapeQuery(name)) + "\">" + EscapeHtml(name) +
         "</a>";
}

const Member* ActiveMember(const GroupSnapshot& snapshot) {
  if (snapshot.lease.free()) return nullptr;
  for (const Member& m : snapshot.members) {
    if (m.info.holder == snapshot.lease.holder) return &m;
  }
  return nullptr;
}

// The active instance's id (from the lease, so also when its member row is gone), or "none".
std::string ActiveCell(const GroupSnapshot& snapshot, bool elects) {
  if (!elects) return "<span class=\"dim\">— (queues only)</span>";
  if (snapshot.lease.free()) return "<span class=\"bad\">none</span>";
  std::string out = "<b>" + EscapeHtml(HolderId(snapshot.lease.holder)) + "</b>";
  if (const Member* m = ActiveMember(snapshot)) {
    out += " <span class=\"dim\">" + EscapeHtml(m->info.host) + " pid " +
           std::to_string(m->info.pid) + "</span>";
  }
  return out;
}

std::string TakeoverCell(const std::optional<Takeover>& takeover, system_clock::time_point now) {
  if (!takeover) return "<span class=\"dim\">never</span>";
  return Human(now - takeover->at) + " ago <span class=\"dim\">(" + ToString(takeover->cause) +
         ")</span>";
}

// The member's id, coloured by its role (red once its row has expired).
std::string MemberId(const Member& m) {
  std::string cls = m.role == MemberRole::kActive ? "active" : "passive";
  if (m.expires_in <= Duration::zero()) cls = "bad";
  return "<span class=\"" + cls + "\">" + EscapeHtml(m.info.id) + "</span>";
}

std::string MemberLine(const Member& m) {
  return MemberId(m) + " <span class=\"dim\">" + ToString(m.role) + ", " +
         Human(m.since_heartbeat) + "</span>";
}

std::string Page(const std::string& title, const std::string& body) {
  return "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<meta http-equiv=\"refresh\" content=\"" +
         std::to_string(kRefreshSeconds) +
         "\"><meta name=\"viewport\" content=\"width=device-width\">"
         "<title>" +
         EscapeHtml(title) +
         "</title><style>"
         "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}"
         "table{border-collapse:collapse;margin:.5em 0 1.5em}"
         "th,td{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:left;"
         "vertical-align:top}th{background:#f4f4f4}"
         ".dim{color:#777}.bad{color:#b00;font-weight:bold}.active{color:#070;font-weight:bold}"
         ".passive{color:#333}td.num{text-align:right;font-variant-numeric:tabular-nums}"
         "</style></head><body>\n" +
         body + "</body></html>\n";
}

}  // namespace

namespace {
std::atomic<bool> unsafe_no_escape{false};
}  // namespace

void SetUnsafeNoEscape(bool on) { unsafe_no_escape = on; }
bool UnsafeNoEscape() { return unsafe_no_escape; }

std::string EscapeHtml(std::string_view text) {
  if (unsafe_no_escape) return std::string(text);
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string EscapeQuery(std::string_view text) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string RenderOverview(const Overview& overview) {
  std::string body = "<h1>baton</h1><p class=\"dim\">" + EscapeHtml(overview.store) + " · " +
                     Utc(overview.now) + " · refreshes every " + std::to_string(kRefreshSeconds) +
                     " s · <a href=\"api/groups\">JSON</a></p>";
  if (overview.groups.empty()) {
    return Page("baton", body + "<p>No groups in this store yet.</p>");
  }
  int without_active = 0;
  std::string rows;
  for (const GroupSummary& g : overview.groups) {
    const GroupSnapshot& s = g.snapshot;
    if (g.elects() && s.lease.free()) ++without_active;
    std::string members;
    for (const Member& m : s.members) members += MemberLine(m) + "<br>";
    if (members.empty() && g.elects()) members = "<span class=\"bad\">none</span>";
    for (const QueueSummary& q : g.queues) {
      members += "queue <a href=\"queue?group=" + EscapeHtml(EscapeQuery(g.name)) +
                 "&amp;name=" + EscapeHtml(EscapeQuery(q.name)) + "\">" + EscapeHtml(q.name) +
                 "</a>" + " <span class=\"dim\">" + std::to_string(q.stats.pending) + " pending, " +
                 std::to_string(q.stats.running) + " running</span>" +
                 (q.stats.dead > 0
                      ? " <span class=\"bad\">" + std::to_string(q.stats.dead) + " dead</span>"
                      : std::string()) +
                 "<br>";
    }
    rows += "<tr><td>" + GroupLink(g.name) + "</td><td>" + ActiveCell(s, g.elects()) +
            "</td><td class=\"num\">" +
            (s.lease.free() ? std::string("—") : std::to_string(s.lease.token)) +
            "</td><td class=\"num\">" +
            (s.lease.free() ? std::string("—") : Human(s.lease.remaining)) + "</td><td>" + members +
            "</td><td>" + TakeoverCell(g.last_takeover, overview.now) + "</td></tr>\n";
  }
  body += "<p>" + std::to_string(overview.groups.size()) + " group(s)" +
          (without_active > 0 ? ", <span class=\"bad\">" + std::to_string(without_active) +
                                    " without an active instance</span>"
                              : std::string(", each with an active instance")) +
          "</p><table><tr><th>group</th><th>active</th><th>token</th><th>lease left</th>"
          "<th>members (role, since last heartbeat) and queues</th><th>last takeover</th></tr>\n" +
          rows + "</table>";
  return Page("baton", body);
}

std::string RenderGroup(const GroupDetail& detail) {
  const GroupSummary& g = detail.group;
  const GroupSnapshot& s = g.snapshot;
  std::string body = "<p><a href=\"./\">all groups</a></p><h1>" + EscapeHtml(g.name) +
                     "</h1><p class=\"dim\">" + EscapeHtml(detail.store) + " · " + Utc(detail.now) +
                     " · <a href=\"api/group?name=" + EscapeHtml(EscapeQuery(g.name)) +
                     "\">JSON</a></p>";
  body += "<table><tr><th>active</th><td>" + ActiveCell(s, g.elects()) + "</td></tr>";
  if (!s.lease.free()) {
    body += "<tr><th>token</th><td>" + std::to_string(s.lease.token) +
            "</td></tr><tr><th>lease left</th><td>" + Human(s.lease.remaining) + "</td></tr>";
  }
  body += "<tr><th>last takeover</th><td>" + TakeoverCell(g.last_takeover, detail.now) +
          "</td></tr></table>";

  body +=
      "<h2>Members</h2><table><tr><th>id</th><th>role</th><th>host</th><th>pid</th>"
      "<th>version</th><th>priority</th><th>started</th><th>last heartbeat</th>"
      "<th>expires in</th></tr>\n";
  for (const Member& m : s.members) {
    body += "<tr><td>" + MemberId(m) + "</td><td>" + ToString(m.role) + "</td><td>" +
            EscapeHtml(m.info.host) + "</td><td class=\"num\">" + std::to_string(m.info.pid) +
            "</td><td>" + EscapeHtml(m.info.version) + "</td><td class=\"num\">" +
            std::to_string(m.info.priority) + "</td><td>" + Utc(m.started) + "</td><td>" +
            Human(m.since_heartbeat) + " ago</td><td>" +
            (m.expires_in <= Duration::zero() ? std::string("<span class=\"bad\">expired</span>")
                                              : Human(m.expires_in)) +
            "</td></tr>\n";
  }
  body += "</table>";
  if (!g.queues.empty()) {
    body +=
        "<h2>Queues</h2><table><tr><th>queue</th><th>pending</th><th>waiting</th>"
        "<th>running</th><th>dead</th><th>oldest ready item</th><th>done</th></tr>\n";
    for (const QueueSummary& q : g.queues) {
      const QueueStats& qs = q.stats;
      body += "<tr><td><a href=\"queue?group=" + EscapeHtml(EscapeQuery(g.name)) +
              "&amp;name=" + EscapeHtml(EscapeQuery(q.name)) + "\">" + EscapeHtml(q.name) + "</a>" +
              (qs.paused ? " <span class=\"bad\">paused</span>" : "") + "</td><td class=\"num\">" +
              std::to_string(qs.pending) + "</td><td class=\"num\">" + std::to_string(qs.waiting) +
              "</td><td class=\"num\">" + std::to_string(qs.running) + "</td><td class=\"num\">" +
              (qs.dead > 0 ? "<span class=\"bad\">" + std::to_string(qs.dead) + "</span>"
                           : std::string("0")) +
              "</td><td>" +
              (qs.oldest_pending_age ? Human(*qs.oldest_pending_age) : std::string("—")) +
              "</td><td class=\"num\">" + std::to_string(qs.done_total) + "</td></tr>\n";
    }
    body += "</table>";
  }
  body += "<h2>Last takeovers</h2>";
  if (detail.takeovers.empty()) {
    body += "<p class=\"dim\">None logged.</p>";
  } else {
    body +=
        "<table><tr><th>token</th><th>taken by</th><th>why the lease was free</th>"
        "<th>when</th></tr>\n";
    for (const Takeover& t : detail.takeovers) {
      body += "<tr><td class=\"num\">" + std::to_string(t.token) + "</td><td>" +
              EscapeHtml(HolderId(t.holder)) + "</td><td>" + ToString(t.cause) + "</td><td>" +
              Utc(t.at) + " <span class=\"dim\">(" + Human(detail.now - t.at) +
              " ago)</span></td></tr>\n";
    }
    body += "</table>";
  }
  return Page(g.name + " · baton", body);
}

std::string ThroughputChart(const std::vector<MinuteCounts>& minutes,
                            std::chrono::system_clock::time_point now) {
  constexpr int kBar = 14, kGap = 2, kHeight = 80;
  const auto this_minute = std::chrono::floor<std::chrono::minutes>(now);
  int64_t top = 1;
  for (const MinuteCounts& m : minutes) top = std::max(top, m.done + m.failed + m.dead);
  std::string bars;
  int64_t total = 0;
  for (const MinuteCounts& m : minutes) {
    const auto ago = std::chrono::duration_cast<std::chrono::minutes>(
                         this_minute - std::chrono::floor<std::chrono::minutes>(m.minute))
                         .count();
    if (ago < 0 || ago >= kMinutesShown) continue;
    const int x = static_cast<int>(kMinutesShown - 1 - ago) * (kBar + kGap);
    const int done_h = static_cast<int>(m.done * kHeight / top);
    const int bad_h = static_cast<int>((m.failed + m.dead) * kHeight / top);
    total += m.done;
    const std::string title = "<title>" + FormatUtc(m.minute, "%H:%M UTC") + ": " +
                              std::to_string(m.done) + " done, " + std::to_string(m.failed) +
                              " failed, " + std::to_string(m.dead) + " dead</title>";
    bars += "<g>" + title + "<rect x=\"" + std::to_string(x) + "\" y=\"" +
            std::to_string(kHeight - done_h) + "\" width=\"" + std::to_string(kBar) +
            "\" height=\"" + std::to_string(done_h) + "\" fill=\"#2a2\"/><rect x=\"" +
            std::to_string(x) + "\" y=\"" + std::to_string(kHeight - done_h - bad_h) +
            "\" width=\"" + std::to_string(kBar) + "\" height=\"" + std::to_string(bad_h) +
            "\" fill=\"#c22\"/></g>";
  }
  const int width = kMinutesShown * (kBar + kGap);
  return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) +
         "\" height=\"" + std::to_string(kHeight + 16) + "\" role=\"img\" aria-label=\"" +
         std::to_string(total) + " done in the last " + std::to_string(kMinutesShown) +
         " minutes\"><line x1=\"0\" y1=\"" + std::to_string(kHeight) + "\" x2=\"" +
         std::to_string(width) + "\" y2=\"" + std::to_string(kHeight) + "\" stroke=\"#999\"/>" +
         bars + "<text x=\"0\" y=\"" + std::to_string(kHeight + 13) +
         "\" font-size=\"11\" fill=\"#777\">" + std::to_string(kMinutesShown) +
         " min ago</text><text x=\"" + std::to_string(width) + "\" y=\"" +
         std::to_string(kHeight + 13) +
         "\" font-size=\"11\" fill=\"#777\" text-anchor=\"end\">now (max " + std::to_string(top) +
         "/min)</text></svg>";
}

std::string RenderQueue(const QueueDetail& detail) {
  const QueueStats& s = detail.queue.stats;
  const std::string group_link = "group?name=" + EscapeHtml(EscapeQuery(detail.group));
  std::string body = "<p><a href=\"./\">all groups</a> · <a href=\"" + group_link + "\">" +
                     EscapeHtml(detail.group) + "</a></p><h1>" + EscapeHtml(detail.queue.name) +
                     (s.paused ? " <span class=\"bad\">paused</span>" : "") +
                     "</h1><p class=\"dim\">" + EscapeHtml(detail.store) + " · " + Utc(detail.now) +
                     " · <a href=\"api/queue?group=" + EscapeHtml(EscapeQuery(detail.group)) +
                     "&amp;name=" + EscapeHtml(EscapeQuery(detail.queue.name)) + "\">JSON</a></p>";
  body +=
      "<table><tr><th>pending</th><th>waiting</th><th>running</th><th>dead</th>"
      "<th>tenants with work waiting</th><th>oldest ready item</th><th>done</th>"
      "<th>failed attempts</th><th>expired</th></tr><tr><td class=\"num\">" +
      std::to_string(s.pending) + "</td><td class=\"num\">" + std::to_string(s.waiting) +
      "</td><td class=\"num\">" + std::to_string(s.running) + "</td><td class=\"num\">" +
      (s.dead > 0 ? "<span class=\"bad\">" + std::to_string(s.dead) + "</span>"
                  : std::string("0")) +
      "</td><td class=\"num\">" + std::to_string(s.tenants_pending) + "</td><td>" +
      (s.oldest_pending_age ? Human(*s.oldest_pending_age) : std::string("—")) +
      "</td><td class=\"num\">" + std::to_string(s.done_total) + "</td><td class=\"num\">" +
      std::to_string(s.failed_total) + "</td><td class=\"num\">" + std::to_string(s.expired_total) +
      "</td></tr></table>";
  body += "<h2>Finished per minute</h2>" + ThroughputChart(detail.minutes, detail.now);

  const auto items = [&](const std::string& title, const std::vector<ItemView>& list, bool dead) {
    std::string out = "<h2>" + title + "</h2>";
    if (list.empty()) return out + "<p class=\"dim\">None.</p>";
    out += "<table><tr><th>id</th><th>tenant</th><th>attempts</th>" +
           std::string(dead ? "<th>exit code</th><th>last error</th>"
                            : "<th>claimed by</th><th>claim left</th>") +
           "<th>offered</th></tr>\n";
    for (const ItemView& item : list) {
      out += "<tr><td class=\"num\">" + std::to_string(item.id) + "</td><td>" +
             EscapeHtml(item.tenant) + "</td><td class=\"num\">" + std::to_string(item.attempts) +
             "</td>";
      if (dead) {
        out += "<td class=\"num\">" +
               (item.exit_code ? std::to_string(*item.exit_code) : std::string("—")) + "</td><td>" +
               EscapeHtml(item.last_error) + "</td>";
      } else {
        out += "<td>" + EscapeHtml(item.claimed_by) + "</td><td>" +
               (item.state == ItemState::kPending ? std::string("—") : Human(item.claim_left)) +
               "</td>";
      }
      out += "<td>" + Utc(item.offered) + "</td></tr>\n";
    }
    return out + "</table>";
  };
  body += items("Running", detail.running, false);
  body += items("Dead letters", detail.dead, true);
  body += items("Next pending", detail.next, false);
  return Page(detail.queue.name + " · " + detail.group + " · baton", body);
}

std::string RenderProblem(const std::string& title, const std::string& message) {
  return Page(title + " · baton", "<p><a href=\"./\">all groups</a></p><h1>" + EscapeHtml(title) +
                                      "</h1><p>" + EscapeHtml(message) + "</p>");
}

}  // namespace baton::web
