// `guardian_host __guardian ...` runs the guardian, as `baton __guardian ...` does.
// `guardian_host dump-env FILE` writes its environment to FILE, one entry a line.
// `guardian_host dump-fds FILE` writes its open descriptors to FILE, one a line.

#include <dirent.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "guardian/guardian.h"

extern char** environ;

int main(int argc, char** argv) {
  if (argc > 1 && std::string_view(argv[1]) == "__guardian") {
    return baton::guardian::GuardianMain(argc, argv);
  }
  if (argc == 3 && std::string_view(argv[1]) == "dump-env") {
    std::FILE* out = std::fopen(argv[2], "w");
    if (out == nullptr) return 1;
    for (char** e = environ; *e != nullptr; ++e) std::fprintf(out, "%s\n", *e);
    return std::fclose(out) == 0 ? 0 : 1;
  }
  if (argc == 3 && std::string_view(argv[1]) == "dump-fds") {
    DIR* dir = opendir("/proc/self/fd");
    if (dir == nullptr) return 1;
    std::string fds;
    while (const dirent* entry = readdir(dir)) {
      if (entry->d_name[0] == '.' || std::atoi(entry->d_name) == dirfd(dir)) continue;
      fds += std::string(entry->d_name) + "\n";
    }
    closedir(dir);
    std::FILE* out = std::fopen(argv[2], "w");
    if (out == nullptr) return 1;
    std::fputs(fds.c_str(), out);
    return std::fclose(out) == 0 ? 0 : 1;
  }
  std::fprintf(stderr, "usage: guardian_host (__guardian ... | dump-env FILE | dump-fds FILE)\n");
  return 2;
}
