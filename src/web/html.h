#pragma once

// The web page's HTML: server-rendered, refreshing itself, with no script and no external
// asset (the page must work on a server without internet, and a page without script cannot
// run one that a hostile group name smuggles in). Every value from the store is escaped.
// Pure functions; any thread.

#include <string>
#include <string_view>

#include "page_model.h"

namespace baton::web {

// For the browser test's proof that it can fail (BATON_UNSAFE_WEB_NO_ESCAPE=1 in `baton web`'s
// environment): from then on EscapeHtml returns its text as it is, and the server sends no
// Content-Security-Policy. Never for production. Thread-safe.
void SetUnsafeNoEscape(bool on);
bool UnsafeNoEscape();

// How often the pages reload themselves.
inline constexpr int kRefreshSeconds = 5;

// `text` with &, <, >, " and ' replaced by their character references: safe in an element's
// text and in a quoted attribute value.
std::string EscapeHtml(std::string_view text);
// `text` percent-encoded for a URL's query value.
std::string EscapeQuery(std::string_view text);

std::string RenderOverview(const Overview& overview);
std::string RenderGroup(const GroupDetail& detail);
std::string RenderQueue(const QueueDetail& detail);
// The finished items of each minute as an inline SVG bar chart (done in green, failed and dead
// in red), the last kMinutesShown minutes up to `now`.
std::string ThroughputChart(const std::vector<MinuteCounts>& minutes,
                            std::chrono::system_clock::time_point now);
// A page saying what went wrong (a store that cannot be read, a group that does not exist).
std::string RenderProblem(const std::string& title, const std::string& message);

}  // namespace baton::web
