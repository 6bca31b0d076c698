// A program built against the installed package's etcd component: the store refuses options
// without an endpoint, which shows it linked and ran without a cluster.
#include <baton/etcd_store.h>

#include <cstdio>

int main() {
  baton::EtcdStoreOptions options;
  auto store = baton::OpenEtcdStore(options);
  std::printf("%s\n", store ? "opened" : store.error().message().c_str());
  return 0;
}
