#include "baton/timing.h"

#include <gtest/gtest.h>

#include "baton/elector.h"

namespace baton {
namespace {

using namespace std::chrono_literals;

TimingOptions Options(Duration ttl, std::optional<Duration> heartbeat = std::nullopt,
                      std::optional<Duration> margin = std::nullopt,
                      std::optional<Duration> grace = std::nullopt) {
  TimingOptions options;
  options.ttl = ttl;
  options.heartbeat = heartbeat;
  options.margin = margin;
  options.grace = grace;
  return options;
}

TEST(ParseDuration, AcceptsUnits) {
  EXPECT_EQ(*ParseDuration("500ms"), 500ms);
  EXPECT_EQ(*ParseDuration("10s"), 10s);
  EXPECT_EQ(*ParseDuration("1.5s"), 1500ms);
  EXPECT_EQ(*ParseDuration("2m"), 120s);
  EXPECT_EQ(*ParseDuration("1h"), 3600s);
}

TEST(ParseDuration, RefusesBareNumbersAndOtherUnits) {
  for (const char* bad : {"10", "", "s", "10 s", "10sec", "1e3ms", "-1s", "ten s", "1.s"}) {
    auto r = ParseDuration(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
    }
  }
}

TEST(FormatDuration, IsReadable) {
  EXPECT_EQ(FormatDuration(500ms), "500ms");
  EXPECT_EQ(FormatDuration(1500ms), "1.5s");
  EXPECT_EQ(FormatDuration(10s), "10s");
  EXPECT_EQ(FormatDuration(2min), "2m");
}

TEST(ResolveTiming, DerivesDefaultsFromTheTtl) {
  auto t = ResolveTiming({});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->ttl, 10s);
  EXPECT_EQ(t->heartbeat, 2s);
  EXPECT_EQ(t->grace, 2s);
  EXPECT_EQ(t->margin, 1s);
  auto small = ResolveTiming(Options(600ms));
  ASSERT_TRUE(small.ok()) << small.error().message();
  EXPECT_EQ(small->margin, 100ms);  // max(ttl/10, 100ms)
}

TEST(ResolveTiming, RefusesWhatCannotBeSafe) {
  auto tight = ResolveTiming(Options(500ms, 200ms, 100ms, 100ms));
  ASSERT_FALSE(tight.ok());
  EXPECT_EQ(tight.error().message(),
            "ttl 500ms is too short for heartbeat 200ms, margin 100ms and grace 100ms "
            "(needs 2 × heartbeat + margin + grace ≤ ttl)");
  auto short_ttl = ResolveTiming(Options(400ms));
  ASSERT_FALSE(short_ttl.ok());
  EXPECT_NE(short_ttl.error().message().find("minimum is 500ms"), std::string::npos);
  auto zero = ResolveTiming(Options(10s, 0s));
  ASSERT_FALSE(zero.ok());
  EXPECT_NE(zero.error().message().find("heartbeat must be positive"), std::string::npos);
  EXPECT_TRUE(ResolveTiming(Options(1s, 200ms, 100ms, 500ms)).ok());
}

TEST(ResolveTiming, RefusesAHeartbeatUnder50ms) {
  auto busy = ResolveTiming(Options(1h, 1ms));
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.error().message().find("heartbeat 1ms is too short: the minimum is 50ms"),
            std::string::npos)
      << busy.error().message();
  EXPECT_TRUE(ResolveTiming(Options(1h, 50ms)).ok());
}

// The library names its options by their fields; a program passes its own names.
TEST(ResolveTiming, NamesTheOptionsAsTheCallerAsks) {
  const OptionNames flags = [](std::string_view field) { return "--" + std::string(field); };
  auto tight = ResolveTiming(Options(500ms, 200ms, 100ms, 100ms), flags);
  ASSERT_FALSE(tight.ok());
  EXPECT_EQ(tight.error().message(),
            "--ttl 500ms is too short for --heartbeat 200ms, margin 100ms and --grace 100ms "
            "(needs 2 × heartbeat + margin + grace ≤ ttl)");
}

TEST(ValidateName, RefusesEmptyLongAndControlCharacters) {
  EXPECT_TRUE(ValidateName("--group", "billing-sync").ok());
  EXPECT_TRUE(ValidateName("--group", "it's \"quoted\"; DROP TABLE x").ok());
  EXPECT_FALSE(ValidateName("--group", "").ok());
  EXPECT_TRUE(ValidateName("--group", std::string(200, 'x')).ok());
  EXPECT_FALSE(ValidateName("--group", std::string(201, 'x')).ok());
  auto ctl = ValidateName("--id", "a\nb");
  ASSERT_FALSE(ctl.ok());
  EXPECT_NE(ctl.error().message().find("--id must not contain control characters"),
            std::string::npos);
}

TEST(Identity, DefaultIdAndHolderAreUnique) {
  const std::string id = DefaultInstanceId();
  EXPECT_NE(id, DefaultInstanceId());
  EXPECT_NE(NewHolder(id), NewHolder(id));
  EXPECT_EQ(NewHolder(id).rfind(id + "/", 0), 0u);
}

}  // namespace
}  // namespace baton
