#include "item_tail.h"

#include <fstream>
#include <iterator>

#include "record.h"
#include "support/process.h"

namespace baton::chaos {

void ItemTail::Update() {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;
  in.seekg(static_cast<std::streamoff>(offset_));
  std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  offset_ += chunk.size();
  partial_ += chunk;

  size_t begin = 0;
  for (size_t end; (end = partial_.find('\n', begin)) != std::string::npos; begin = end + 1) {
    const ItemLine line = ParseItemLine(std::string_view(partial_).substr(begin, end - begin));
    if (line.kind == ItemKind::kStart) {
      running_[{line.pid, line.token}] = {line.item, line.tenant, line.token, line.pid};
    } else {
      running_.erase({line.pid, line.token});
    }
  }
  partial_.erase(0, begin);
}

std::vector<RunningItem> ItemTail::Running() {
  Update();
  std::vector<RunningItem> running;
  for (auto it = running_.begin(); it != running_.end();) {
    if (!test_support::IsAlive(it->second.pid)) {
      it = running_.erase(it);  // Killed without a line: the guardian's deadline, or a fault.
      continue;
    }
    running.push_back(it->second);
    ++it;
  }
  return running;
}

}  // namespace baton::chaos
