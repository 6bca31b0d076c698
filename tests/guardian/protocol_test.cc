// The control channel's framing, without processes.

#include "guardian/protocol.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

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

TEST(GuardianProtocolTest, AStartsDescriptorsTravelWithItOverTheSocket) {
  int sv[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
  int out[2];
  ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
  Message start = Start();
  start.stdio[1] = out[1];
  // A message without descriptors before and after: they must not take or lose any.
  Message terminate;
  terminate.type = MessageType::kTerminate;
  std::thread sender([&] {
    EXPECT_TRUE(SendFrame(sv[0], terminate));
    EXPECT_TRUE(SendFrame(sv[0], start));
    EXPECT_TRUE(SendFrame(sv[0], terminate));
    close(sv[0]);
  });
  MessageReader reader;
  std::vector<Message> got;
  bool corrupt = false;
  while (ReadInto(sv[1], reader) > 0) {
    while (std::optional<Message> m = reader.Next(&corrupt)) got.push_back(std::move(*m));
    ASSERT_FALSE(corrupt);
  }
  sender.join();
  close(sv[1]);
  close(out[1]);
  ASSERT_EQ(got.size(), 3u);
  ASSERT_EQ(got[1].type, MessageType::kStart);
  EXPECT_EQ(got[1].env, Start().env);
  EXPECT_EQ(got[1].stdio[0], -1);
  EXPECT_EQ(got[1].stdio[2], -1);
  ASSERT_GE(got[1].stdio[1], 0);
  // The received descriptor is the pipe's write end: what goes in comes out.
  ASSERT_EQ(write(got[1].stdio[1], "x", 1), 1);
  CloseFds(got[1]);
  char c = 0;
  EXPECT_EQ(read(out[0], &c, 1), 1);
  EXPECT_EQ(c, 'x');
  EXPECT_EQ(read(out[0], &c, 1), 0) << "a copy of the write end was left open";
  close(out[0]);
}

TEST(GuardianProtocolTest, AStartWithoutItsDescriptorsIsCorrupt) {
  Message start = Start();
  start.stdio[0] = 0;  // The mask says one travels; the bytes alone carry none.
  const std::string bytes = Encode(start);
  MessageReader reader;
  reader.Append(bytes.data(), bytes.size());
  bool corrupt = false;
  EXPECT_FALSE(reader.Next(&corrupt));
  EXPECT_TRUE(corrupt);
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
