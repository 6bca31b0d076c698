// baton-chaos-item: the per-item command of a queue chaos run. It reads the item's payload,
// which the driver wrote as flags for baton-item-probe ("--sleep 40 --exit-code 65"), and
// runs the probe in its place (same pid) with those flags after its own, the payload again
// on its standard input. So one queue can hold items of every kind: quick, slow, poison
// (exit 65) and failing a few times; the probe's own flags are per command, not per item.
//
//   baton-chaos-item PROBE [PROBE-FLAG ...]     (the payload, on stdin: more flags)
//
// A payload word that is not one of --sleep, --exit-code or --fail-until with its value is
// refused (exit 2), so a payload cannot make the probe do something else.

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: baton-chaos-item PROBE [PROBE-FLAG ...] < PAYLOAD\n");
    return 2;
  }
  std::string payload;
  char buf[4096];
  for (ssize_t n; (n = read(0, buf, sizeof buf)) > 0;) payload.append(buf, static_cast<size_t>(n));

  std::vector<std::string> args(argv + 1, argv + argc);
  std::istringstream words(payload);
  for (std::string flag, value; words >> flag;) {
    if ((flag != "--sleep" && flag != "--exit-code" && flag != "--fail-until") ||
        !(words >> value)) {
      std::fprintf(stderr, "baton-chaos-item: payload word %s is not a probe flag\n", flag.c_str());
      return 2;
    }
    args.push_back(flag);
    args.push_back(value);
  }

  // The probe logs the payload too: give it the same bytes on its standard input.
  const int fd = memfd_create("chaos-item-payload", 0);
  if (fd < 0 || write(fd, payload.data(), payload.size()) != static_cast<ssize_t>(payload.size()) ||
      lseek(fd, 0, SEEK_SET) != 0 || dup2(fd, 0) != 0) {
    std::fprintf(stderr, "baton-chaos-item: cannot pass the payload on: %s\n",
                 std::strerror(errno));
    return 2;
  }
  close(fd);
  std::vector<char*> exec_argv;
  for (std::string& arg : args) exec_argv.push_back(arg.data());
  exec_argv.push_back(nullptr);
  execv(exec_argv[0], exec_argv.data());
  std::fprintf(stderr, "baton-chaos-item: cannot run %s: %s\n", exec_argv[0], std::strerror(errno));
  return 2;
}
