// The program's option layer: flag > environment > config file > default, and the
// store URL rules (passwords never shown).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <fstream>

#include "settings.h"
#include "store_url.h"
#include "support/temp_dir.h"

namespace baton::cli {
namespace {

class SettingsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = "/tmp/baton-settings-" + std::to_string(getpid()) + ".toml";
    unsetenv("BATON_TTL");
    unsetenv("BATON_GROUP");
  }
  void TearDown() override {
    std::remove(config_.c_str());
    unsetenv("BATON_TTL");
    unsetenv("BATON_GROUP");
  }

  // Parses `args` (without the program name) into a fresh Settings.
  Result<void> Parse(std::vector<std::string> args) {
    app_ = std::make_unique<CLI::App>();
    settings_ = std::make_unique<Settings>();
    for (const char* name : {"ttl", "group", "config", "heartbeat"}) {
      settings_->Add(app_.get(), name, "");
    }
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app_->parse(reversed);
    return settings_->Resolve();
  }

  void WriteConfig(const std::string& text) { std::ofstream(config_) << text; }

  std::string config_;
  std::unique_ptr<CLI::App> app_;
  std::unique_ptr<Settings> settings_;
};

TEST_F(SettingsTest, FlagBeatsEnvironmentBeatsFile) {
  WriteConfig("ttl = \"30s\"\ngroup = \"from-file\"\nheartbeat = \"3s\"\n");
  setenv("BATON_TTL", "20s", 1);
  setenv("BATON_GROUP", "from-env", 1);
  ASSERT_TRUE(Parse({"--config", config_, "--ttl", "10s"}).ok());
  EXPECT_EQ(settings_->Get("ttl"), "10s");
  EXPECT_EQ(settings_->Source("ttl"), "--ttl");
  EXPECT_EQ(settings_->Get("group"), "from-env");
  EXPECT_EQ(settings_->Source("group"), "BATON_GROUP");
  EXPECT_EQ(settings_->Get("heartbeat"), "3s");
  EXPECT_EQ(settings_->Source("heartbeat"), "heartbeat in " + config_);
}

TEST_F(SettingsTest, BadValuesNameTheirSource) {
  setenv("BATON_TTL", "10", 1);
  ASSERT_TRUE(Parse({}).ok());
  auto ttl = settings_->GetDuration("ttl");
  ASSERT_FALSE(ttl.ok());
  EXPECT_EQ(ttl.error().message().rfind("BATON_TTL: \"10\" is not a duration", 0), 0u)
      << ttl.error().message();
}

TEST_F(SettingsTest, UnknownConfigKeyAndBadTomlAreRefused) {
  WriteConfig("tll = \"10s\"\n");
  auto typo = Parse({"--config", config_});
  ASSERT_FALSE(typo.ok());
  EXPECT_NE(typo.error().message().find("unknown key \"tll\""), std::string::npos);
  WriteConfig("ttl = \n");
  auto broken = Parse({"--config", config_});
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message().find("line 1"), std::string::npos);
  auto missing = Parse({"--config", "/nonexistent/baton.toml"});
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("/nonexistent/baton.toml"), std::string::npos);
}

TEST_F(SettingsTest, TomlNumbersForDurationsNameTheValueAndTheUnit) {
  WriteConfig("ttl = 3\n");
  ASSERT_TRUE(Parse({"--config", config_}).ok());
  auto integer = settings_->GetDuration("ttl");
  ASSERT_FALSE(integer.ok());
  EXPECT_NE(integer.error().message().find("ttl = 3 in " + config_), std::string::npos)
      << integer.error().message();
  EXPECT_NE(integer.error().message().find("ttl = \"3s\""), std::string::npos)
      << integer.error().message();

  WriteConfig("ttl = 3.5\n");
  ASSERT_TRUE(Parse({"--config", config_}).ok());
  auto floating = settings_->GetDuration("ttl");
  ASSERT_FALSE(floating.ok());
  EXPECT_NE(floating.error().message().find("ttl = 3.5 in"), std::string::npos)
      << floating.error().message();
  EXPECT_NE(floating.error().message().find("unit"), std::string::npos)
      << floating.error().message();
}

TEST_F(SettingsTest, OneFileServesEverySubcommand) {
  // Another subcommand's option, declared as main() declares every subcommand's.
  CLI::App other;
  Settings other_settings;
  other_settings.AddFlag(&other, "json", "");
  WriteConfig(
      "ttl = \"6s\"\njson = true\n[run.billing]\nttl = \"3s\"\n[work.sync]\nqueue = \"q\"\n");
  ASSERT_TRUE(Parse({"--config", config_}).ok());
  EXPECT_EQ(settings_->Get("ttl"), "6s");
  EXPECT_FALSE(settings_->Get("json")) << "another subcommand's key was taken as ours";

  WriteConfig("ttl = \"6s\"\nfrobnicate = 1\n");
  auto unknown = Parse({"--config", config_});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message().find("unknown key \"frobnicate\""), std::string::npos);
}

TEST_F(SettingsTest, RepeatedOptionIsRefusedNamingItsValues) {
  auto twice = Parse({"--ttl", "3s", "--ttl", "4s"});
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().message().find("--ttl was given 2 times (3s, 4s)"), std::string::npos)
      << twice.error().message();
}

TEST(StoreUrl, KeyValueConnectionStringsAreAccepted) {
  auto store = OpenStore("host=/nonexistent port=1 dbname=x password=s3cret", Clock::Real(), {});
  ASSERT_TRUE(store.ok()) << store.error().message();
  EXPECT_EQ((*store)->Describe().find("s3cret"), std::string::npos) << (*store)->Describe();
  EXPECT_NE((*store)->Describe().find("dbname=x"), std::string::npos) << (*store)->Describe();
}

TEST(StoreUrl, RelativeSqlitePathIsMadeAbsolute) {
  test_support::TempDir dir;
  char old[4096];
  ASSERT_NE(getcwd(old, sizeof old), nullptr);
  ASSERT_EQ(chdir(dir.path().c_str()), 0);
  auto store = OpenStore("sqlite:rel.db", Clock::Real(), {});
  ASSERT_EQ(chdir(old), 0);
  ASSERT_TRUE(store.ok()) << store.error().message();
  EXPECT_EQ((*store)->Describe(), "sqlite:" + dir.File("rel.db"));
}

TEST(StoreUrl, PasswordsAreRedacted) {
  EXPECT_EQ(RedactUrl("postgresql://app:s3cret@db.example/baton"),
            "postgresql://app:***@db.example/baton");
  EXPECT_EQ(RedactUrl("postgresql://app@db/baton"), "postgresql://app@db/baton");
  EXPECT_EQ(RedactUrl("sqlite:/var/lib/baton.db"), "sqlite:/var/lib/baton.db");
  EXPECT_EQ(RedactUrl("postgresql://app@db/baton?sslmode=require&password=s3cret&x=1"),
            "postgresql://app@db/baton?sslmode=require&password=***&x=1");
  EXPECT_EQ(RedactUrl("postgresql://app:a@db/baton?password=b"),
            "postgresql://app:***@db/baton?password=***");
  EXPECT_EQ(RedactUrl("host=db password=s3cret dbname=baton"), "host=db password=*** dbname=baton");
  EXPECT_EQ(RedactUrl("host=db password = 'two words' dbname=baton"),
            "host=db password = *** dbname=baton");
  // The PostgreSQL store's messages use the same parser: a quoted value with an escaped
  // quote, any URI scheme, and an empty password (nothing to hide).
  EXPECT_EQ(RedactUrl("password='it\\'s' host=db"), "password=*** host=db");
  EXPECT_EQ(RedactUrl("etcd://root:s3cret@h1:2379"), "etcd://root:***@h1:2379");
  EXPECT_EQ(RedactUrl("postgresql://app:@db/baton"), "postgresql://app:@db/baton");
  EXPECT_EQ(RedactUrl("host=db password="), "host=db password=");
}

TEST(StoreUrl, PasswordsAreBlankedInArgv) {
  std::string a0 = "baton", a1 = "--store=postgres://u:hunter2@h/d", a2 = "postgres://u:pw@h/d";
  char* argv[] = {a0.data(), a1.data(), a2.data()};
  BlankPasswordsInArgv(3, argv);
  EXPECT_STREQ(argv[1], "--store=postgres://u:xxxxxxx@h/d");
  EXPECT_STREQ(argv[2], "postgres://u:xx@h/d");

  std::string b1 = "--store", b2 = "postgresql://u@h/d?password=hunter2&sslmode=disable",
              b3 = "--store=host=h password=hunter2";
  char* more[] = {a0.data(), b1.data(), b2.data(), b3.data()};
  BlankPasswordsInArgv(4, more);
  EXPECT_STREQ(more[2], "postgresql://u@h/d?password=xxxxxxx&sslmode=disable");
  EXPECT_STREQ(more[3], "--store=host=h password=xxxxxxx");

  std::string c1 = "--etcd-password", c2 = "hunter2", c3 = "--etcd-password=s3cret";
  char* etcd[] = {a0.data(), c1.data(), c2.data(), c3.data()};
  BlankPasswordsInArgv(4, etcd);
  EXPECT_STREQ(etcd[2], "xxxxxxx");
  EXPECT_STREQ(etcd[3], "--etcd-password=xxxxxx");
}

TEST(StoreUrl, UnknownSchemesAreRefusedWithAdvice) {
  auto store = OpenStore("mysql://u:pw@h/d", Clock::Real(), {});
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code(), ErrorCode::kInvalidArgument);
  EXPECT_NE(store.error().message().find("use sqlite:PATH"), std::string::npos);
  EXPECT_EQ(store.error().message().find("pw"), std::string::npos);
}

}  // namespace
}  // namespace baton::cli
