#pragma once

#include <string>

#include "baton/etcd_store.h"
#include "baton/result.h"
#include "store_url.h"

namespace baton::cli {

// Reads an etcd store URL:
//   etcd://HOST:PORT[,HOST:PORT…][/PREFIX]
//   etcds://[USER:PASSWORD@]HOST:PORT[,…][/PREFIX][?cacert=F&cert=F&key=F]
// A host without a port gets etcd's 2379. The prefix (default "baton/") separates stores on
// one cluster. A user and password in the URL win over `given` (the --etcd-* options), and
// those over ETCDCTL_USER ("user" or "user:password") and ETCDCTL_PASSWORD, as etcdctl
// reads them; so do the URL's TLS files over `given`'s. kInvalidArgument naming what is
// wrong, never showing the password.
Result<EtcdStoreOptions> ParseEtcdUrl(const std::string& url, const EtcdSettings& given = {});

// Whether `url` names an etcd store (etcd:// or etcds://).
bool IsEtcdUrl(const std::string& url);

}  // namespace baton::cli
