// baton-chaos-check: judges a chaos record directory again, for a post-mortem or after
// changing the checker.
//
//   baton-chaos-check [--intervals] DIR
//
// Prints the report and the totals line (--intervals: every active interval too). Exit
// status: 0 when the record passes, 1 when it shows a violation, 2 when it cannot be read
// (or the arguments are wrong).

#include <cstring>
#include <iostream>
#include <string>

#include "checker.h"

int main(int argc, char** argv) {
  bool list_intervals = false;
  std::string dir;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--intervals") == 0) {
      list_intervals = true;
    } else if (argv[i][0] != '-' && dir.empty()) {
      dir = argv[i];
    } else {
      dir.clear();
      break;
    }
  }
  if (dir.empty()) {
    std::cerr << "usage: baton-chaos-check [--intervals] RECORD_DIR\n";
    return 2;
  }

  const baton::chaos::CheckResult result = baton::chaos::CheckRecord(dir);
  baton::chaos::PrintReport(result, std::cout);
  if (list_intervals) baton::chaos::PrintIntervals(result, std::cout);
  std::cout << baton::chaos::TotalsLine(result) << std::endl;
  if (!result.readable()) return 2;
  return result.passed() ? 0 : 1;
}
