// The control channel's framing, without processes.

#include "guardian/protocol.h"

#include <gtest/gtest.h>

namespace baton::guardian::detail {
namespace {

Message Start() {
  Message m;
  m.type = MessageType::kStart;
  m.deadline_ns = 123'456'789'012;
  m.grace_ns = 2'000'000'000;
  m.env = {"A=1", "", "B=x=y", std::string(100'000, 'z')};
  return m;
}

TEST(GuardianProtocolTest, EveryMessageSurvivesARoundTripDeliveredByteByByte) {
  Message exit;
  exit.type = MessageType::kExit;
  exit.exit = {ExitKind::kDeadline, 0, 9};
  Message started;
  started.type = MessageType::kStarted;
  started.pid = 4242;
  Message set_deadline;
  set_deadline.type = MessageType::kSetDeadline;
  set_deadline.deadline_ns = kNoDeadline;
  Message terminate;
  terminate.type = MessageType::kTerminate;
  terminate.grace_ns = 300'000'000;
  const std::string stream =
      Encode(Start()) + Encode(set_deadline) + Encode(terminate) + Encode(started) + Encode(exit);

  MessageReader reader;
  std::vector<Message> got;
  bool corrupt = false;
  for (char c : stream) {
    reader.Append(&c, 1);
    while (std::optional<Message> m = reader.Next(&corrupt)) got.push_back(*m);
    ASSERT_FALSE(corrupt);
  }
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].type, MessageType::kStart);
  EXPECT_EQ(got[0].deadline_ns, Start().deadline_ns);
  EXPECT_EQ(got[0].grace_ns, Start().grace_ns);
  EXPECT_EQ(got[0].env, Start().env);
  EXPECT_EQ(got[1].deadline_ns, kNoDeadline);
  EXPECT_EQ(got[2].grace_ns, 300'000'000);
  EXPECT_EQ(got[3].pid, 4242);
  EXPECT_EQ(got[4].exit.kind, ExitKind::kDeadline);
  EXPECT_EQ(got[4].exit.signal, 9);
}

TEST(GuardianProtocolTest, GarbageIsReportedAsCorrupt) {
  for (const std::string& bytes : {std::string("\0\0\0\0", 4), std::string("\xff\xff\xff\xff", 4),
                                   std::string("\x01\0\0\0\x63", 5),         // Unknown type.
                                   std::string("\x02\0\0\0\x02\x01", 6)}) {  // Short payload.
    MessageReader reader;
    reader.Append(bytes.data(), bytes.size());
    bool corrupt = false;
    EXPECT_FALSE(reader.Next(&corrupt));
    EXPECT_TRUE(corrupt);
  }
}

}  // namespace
}  // namespace baton::guardian::detail
