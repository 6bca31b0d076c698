// Reading etcd store URLs (--store etcd://…), and keeping their passwords out of sight.
#include "etcd_url.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include "store_url.h"

namespace baton::cli {
namespace {

TEST(EtcdUrl, ReadsEndpointsPrefixAndDefaultPort) {
  unsetenv("ETCDCTL_USER");
  unsetenv("ETCDCTL_PASSWORD");
  auto plain = ParseEtcdUrl("etcd://10.0.0.1:2379,db2,[::1]:32379/billing");
  ASSERT_TRUE(plain.ok()) << plain.error().message();
  EXPECT_EQ(plain->endpoints,
            (std::vector<std::string>{"10.0.0.1:2379", "db2:2379", "[::1]:32379"}));
  EXPECT_EQ(plain->prefix, "billing/");
  EXPECT_FALSE(plain->tls);
  EXPECT_TRUE(plain->user.empty());
  EXPECT_EQ(ParseEtcdUrl("etcd://h:1")->prefix, "baton/");
}

TEST(EtcdUrl, ReadsTlsFilesAndAUserFromTheUrlOrTheEnvironment) {
  auto tls = ParseEtcdUrl("etcds://app:pw@h:2379?cacert=/ca.pem&cert=/c.pem&key=/k.pem");
  ASSERT_TRUE(tls.ok()) << tls.error().message();
  EXPECT_TRUE(tls->tls);
  EXPECT_EQ(tls->ca_file, "/ca.pem");
  EXPECT_EQ(tls->cert_file, "/c.pem");
  EXPECT_EQ(tls->key_file, "/k.pem");
  EXPECT_EQ(tls->user, "app");
  EXPECT_EQ(tls->password, "pw");

  setenv("ETCDCTL_USER", "ops:from-env", 1);
  auto from_env = ParseEtcdUrl("etcd://h:2379");
  unsetenv("ETCDCTL_USER");
  ASSERT_TRUE(from_env.ok());
  EXPECT_EQ(from_env->user, "ops");
  EXPECT_EQ(from_env->password, "from-env");
}

// The --etcd-* options (flag, BATON_ETCD_*, config key) fill what the URL leaves out, and
// win over ETCDCTL_USER.
TEST(EtcdUrl, TheOptionsFillWhatTheUrlLeavesOutAndWinOverTheEnvironment) {
  const EtcdSettings given{.user = "svc",
                           .password = "from-file",
                           .ca_file = "/etc/baton/ca.pem",
                           .cert_file = "/etc/baton/c.pem",
                           .key_file = "/etc/baton/k.pem"};
  setenv("ETCDCTL_USER", "ops:from-env", 1);
  auto merged = ParseEtcdUrl("etcds://h:2379?cacert=/url-ca.pem", given);
  unsetenv("ETCDCTL_USER");
  ASSERT_TRUE(merged.ok()) << merged.error().message();
  EXPECT_EQ(merged->user, "svc");
  EXPECT_EQ(merged->password, "from-file");
  EXPECT_EQ(merged->ca_file, "/url-ca.pem") << "the URL's own parameter wins";
  EXPECT_EQ(merged->cert_file, "/etc/baton/c.pem");
  EXPECT_EQ(merged->key_file, "/etc/baton/k.pem");

  auto url_user = ParseEtcdUrl("etcds://app:pw@h:2379", given);
  ASSERT_TRUE(url_user.ok());
  EXPECT_EQ(url_user->user, "app");
  EXPECT_EQ(url_user->password, "pw");

  auto plain = ParseEtcdUrl("etcd://h:2379", {.ca_file = "/ca.pem"});
  ASSERT_FALSE(plain.ok());
  EXPECT_NE(plain.error().message().find("etcd-cacert needs TLS"), std::string::npos);
  auto half = ParseEtcdUrl("etcds://h:2379", {.cert_file = "/c.pem"});
  ASSERT_FALSE(half.ok());
  EXPECT_NE(half.error().message().find("needs both its files"), std::string::npos);
}

TEST(EtcdUrl, RefusesWhatItCannotReadSayingWhy) {
  for (const auto& [url, says] : std::vector<std::pair<std::string, std::string>>{
           {"etcd://", "names no endpoint"},
           {"etcd://a:1,,b:2", "empty etcd endpoint"},
           {"etcd://h:1?cacert=/ca.pem", "needs TLS"},
           {"etcds://h:1?tls=yes", "unknown etcd parameter \"tls\""},
           {"etcds://h:1?cacert=", "is empty"}}) {
    auto parsed = ParseEtcdUrl(url);
    ASSERT_FALSE(parsed.ok()) << url;
    EXPECT_EQ(parsed.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(parsed.error().message().find(says), std::string::npos)
        << url << ": " << parsed.error().message();
  }
}

TEST(EtcdUrl, APasswordInTheUrlIsNeverShown) {
  EXPECT_EQ(RedactUrl("etcds://app:s3cret@h1:2379,h2:2379/p"), "etcds://app:***@h1:2379,h2:2379/p");
}

}  // namespace
}  // namespace baton::cli
