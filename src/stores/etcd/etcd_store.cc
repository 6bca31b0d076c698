// The etcd store (SPEC 8): leases as keys on etcd leases, tokens as create revisions.
#include "etcd_store_impl.h"

namespace baton::etcd_detail {

Result<SchemaInfo> EtcdStore::Migrate() {
  const std::string key = keys_.Version();
  pb::TxnRequest txn;
  *txn.add_compare() = CreateRevision(key, 0);
  AddPut(txn.add_success(), key,
         nlohmann::json{{"version", kSchemaVersion}, {"usable_from", kUsableFrom}}.dump(), 0);
  AddRange(txn.add_failure(), key);
  auto reply = client_->Txn(txn, "writing the version key");
  if (!reply) return reply.error();
  SchemaInfo info{.found = 0, .current = kSchemaVersion, .supported = kSchemaVersion};
  if (!reply->succeeded()) {
    auto found = VersionOf(reply->responses(0).response_range());
    if (!found) return found.error();
    info.found = info.current = found->version;
    if (auto r = CheckSchemaVersion(client_->describe(), *found, kSchemaVersion); !r) {
      return r.error();
    }
  }
  schema_checked_ = true;
  return info;
}

Result<SchemaVersion> EtcdStore::VersionOf(const pb::RangeResponse& range) const {
  if (range.kvs_size() == 0) return SchemaVersion{};
  const auto json = nlohmann::json::parse(range.kvs(0).value(), nullptr, false);
  if (json.is_discarded() || !json.is_object() || !json.contains("version")) {
    return Error(ErrorCode::kSchemaMismatch,
                 client_->describe() + ": the version key " + keys_.Version() +
                     " is not baton's: is the prefix shared with something else?");
  }
  return SchemaVersion{.version = json.value("version", 0),
                       .usable_from = json.value("usable_from", json.value("version", 0))};
}

Result<void> EtcdStore::Ready() {
  if (schema_checked_) return Ok();
  pb::RangeRequest range;
  range.set_key(keys_.Version());
  auto read = client_->Range(range, "reading the version key");
  if (!read) return read.error();
  auto found = VersionOf(*read);
  if (!found) return found.error();
  if (found->version < kSchemaVersion && create_schema_) {
    auto migrated = Migrate();
    if (!migrated) return migrated.error();
    return Ok();
  }
  if (auto r = CheckSchemaVersion(client_->describe(), *found, kSchemaVersion); !r) return r;
  schema_checked_ = true;
  return Ok();
}

}  // namespace baton::etcd_detail

namespace baton {

Result<std::unique_ptr<Store>> OpenEtcdStore(const EtcdStoreOptions& options) {
  auto client = etcd_detail::Client::Open(options);
  if (!client) return client.error();
  auto store = std::make_unique<etcd_detail::EtcdStore>(std::move(*client), options);
  if (auto r = store->Start(); !r) return r.error();
  return std::unique_ptr<Store>(std::move(store));
}

int EtcdSchemaVersion() { return etcd_detail::kSchemaVersion; }

}  // namespace baton
