#!/bin/sh
# One tenant's work, run by `baton work` for each item. It writes the tenant's result into
# the table `results` of the same SQLite file ($EXAMPLE_DB), in a transaction fenced by the
# item's claim: the insert into baton_claim_fence aborts it unless BATON_CLAIM_TOKEN is still
# the item's live claim, so a worker whose claim was taken from it cannot commit.
set -eu
sleep 0.3  # The work itself.
# Numbers from baton, checked anyway; the tenant id goes into the SQL only as hex digits.
case "$BATON_ITEM$BATON_CLAIM_TOKEN$BATON_ATTEMPT" in *[!0-9]*) exit 65 ;; esac
tenant=$(printf '%s' "$BATON_TENANT" | od -An -tx1 | tr -d ' \n')
sqlite3 -bail "$EXAMPLE_DB" <<SQL
.timeout 1000
BEGIN IMMEDIATE;
INSERT INTO baton_claim_fence (group_name, queue, item, claim_token)
  VALUES ('tenants', 'tenant-sync', $BATON_ITEM, $BATON_CLAIM_TOKEN);
CREATE TABLE IF NOT EXISTS results (item INTEGER PRIMARY KEY, tenant TEXT, attempt INTEGER);
INSERT OR REPLACE INTO results VALUES ($BATON_ITEM, CAST(X'$tenant' AS TEXT), $BATON_ATTEMPT);
COMMIT;
SQL
echo "processed (attempt $BATON_ATTEMPT)"
