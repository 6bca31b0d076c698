// A program built against the installed package: opens a SQLite store and creates its schema.
#include <baton/sqlite_store.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  baton::SqliteStoreOptions options;
  options.path = argv[1];
  auto store = baton::OpenSqliteStore(options);
  if (!store) {
    std::fprintf(stderr, "%s\n", store.error().message().c_str());
    return 1;
  }
  auto schema = (*store)->Migrate();
  if (!schema) return 1;
  std::printf("schema version %d\n", schema->current);
  return 0;
}
