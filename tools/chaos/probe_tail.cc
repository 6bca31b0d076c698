#include "probe_tail.h"

#include <fstream>

#include "record.h"
#include "support/process.h"

namespace baton::chaos {

void ProbeTail::Update() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  offset_ += chunk.size();
  partial_ += chunk;

  size_t begin = 0;
  for (size_t end; (end = partial_.find('\n', begin)) != std::string::npos; begin = end + 1) {
    const ProbeLine line = ParseProbeLine(std::string_view(partial_).substr(begin, end - begin));
    if (line.kind == ProbeKind::kStart) {
      latest_ = LiveChild{.instance = line.instance, .token = line.token, .pid = line.pid};
    } else if ((line.kind == ProbeKind::kStop || line.kind == ProbeKind::kExit) && latest_ &&
               latest_->pid == line.pid) {
      latest_.reset();
    }
  }
  partial_.erase(0, begin);
}

std::optional<LiveChild> ProbeTail::Active() {
  Update();
  if (latest_ && !test_support::IsAlive(latest_->pid)) latest_.reset();
  return latest_;
}

}  // namespace baton::chaos
