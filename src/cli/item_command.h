#pragma once

#include <memory>
#include <string>
#include <vector>

#include "baton/worker.h"
#include "guardian/guardian_pool.h"

namespace baton::cli {

// How `baton work` runs one item: its command (no shell) under a guardian whose deadline is
// the claim's, the payload on standard input, BATON_QUEUE, BATON_TENANT, BATON_ITEM,
// BATON_ATTEMPT and BATON_CLAIM_TOKEN in the environment (and no other BATON_* variable),
// each output line logged with the tenant and item, the tail of standard error kept for the
// dead letters. Exit 0 is done, 65 (EX_DATAERR) a poison item, anything else a retry.
//
// The guardians are kept between items (see GuardianPool), each item a run of its own.
//
// Thread-safe: Run() is called from many item threads at once.
class ItemCommand final {
 public:
  ItemCommand(std::vector<std::string> argv, std::vector<std::string> base_env, Duration grace,
              Clock& clock);

  WorkResult Run(ItemContext& context) const;

 private:
  const std::vector<std::string> argv_;
  const std::vector<std::string> base_env_;
  const Duration grace_;
  Clock& clock_;
  const std::unique_ptr<guardian::GuardianPool> guardians_;
};

}  // namespace baton::cli
