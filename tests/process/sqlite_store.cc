// The store of baton_process_tests: the fixture's own SQLite file.

#include "group_fixture.h"

namespace baton::process_test {

StoreKind StoreUnderTest() {
  return {.name = "sqlite", .set_up = [](BatonGroupTest&) {}};
}

}  // namespace baton::process_test
