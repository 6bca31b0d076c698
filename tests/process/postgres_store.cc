// The store of baton_pg_process_tests: a fresh database per test on the binary's one
// throwaway PostgreSQL cluster (tests/conformance/postgres_test_env.h).

#include "group_fixture.h"
#include "postgres_test_env.h"

namespace baton::process_test {
namespace {

void SetUpPostgres(BatonGroupTest& test) {
  test_support::PgCluster* cluster = nullptr;
  BATON_REQUIRE_PG_CLUSTER(cluster);
  test.UseStore(cluster->Url(cluster->CreateDatabase("proc")));
}

}  // namespace

StoreKind StoreUnderTest() { return {.name = "postgresql", .set_up = &SetUpPostgres}; }

}  // namespace baton::process_test
