-- baton's PostgreSQL schema, version 4: a claim that also acknowledges, in one statement and
-- one transaction, the items the worker finished since its last claim, and lists the running
-- claims only when the caller asks. A busy worker used to pay two commits and two round trips
-- per item (a claim, then an acknowledgement), and to receive the queue's every running claim
-- with each claim. Tables are unchanged (three indexes are replaced, below), so version 1, 2
-- and 3 programs are served as before: their claim() (the ten-argument one) now calls this
-- one. Run by Migrate() after version 3,
-- in the same transaction under the same advisory lock. {{schema}} is the quoted schema name.
--
-- A claim's plans must not depend on the planner's statistics. A queue's tables are often
-- filled faster than autovacuum analyzes them, a new queue's group and queue names are in no
-- statistics, and PL/pgSQL keeps a session's plans. Without statistics every condition looks
-- as selective as every other, and any index that leads with (group_name, queue) can serve
-- any of a queue's lookups: version 2's claim read every pending item of the queue through
-- queue_items_state to find one tenant's (1 ms an item with 20,000 queued, against 0.02 ms),
-- and updated a tenant's row after scanning the queue's every tenant in queue_tenants_served.
-- So each index here serves one kind of lookup: those by tenant use the indexes that lead with
-- (group_name, queue, tenant); the three that serve a whole queue in order (of turns, of ready
-- time, of expiry) lead with the expression ARRAY[group_name, queue] instead, which only the
-- statements written for them name; and the claim's per-tenant checks are subqueries kept
-- apart (OFFSET 0), so each is a lookup by its tenant, not a join that filters one scan of the
-- queue's items.

DROP INDEX IF EXISTS {{schema}}.queue_tenants_served;
CREATE INDEX IF NOT EXISTS queue_tenants_turns ON {{schema}}.queue_tenants
  ((ARRAY[group_name, queue]), last_served, seq);
DROP INDEX IF EXISTS {{schema}}.queue_items_state;
CREATE INDEX IF NOT EXISTS queue_items_waiting ON {{schema}}.queue_items
  ((ARRAY[group_name, queue]), ready_at) WHERE state = 'pending';
DROP INDEX IF EXISTS {{schema}}.queue_items_ttl;
CREATE INDEX IF NOT EXISTS queue_items_expiry ON {{schema}}.queue_items
  ((ARRAY[group_name, queue]), expires_at) WHERE expires_at IS NOT NULL;

-- Gathers the planner's statistics of the queue tables that have none (never analyzed, or
-- analyzed only while empty), which a queue handle asks for once, at its first offer and its
-- first claim. Without them every column is assumed to hold 200 values, so a condition on
-- the group and the queue, which hold one or a few, looks as selective as one on the tenant
-- and every index ties. Returns whether it analyzed. A role that does not own the tables
-- gets a warning from ANALYZE, not an error.
CREATE OR REPLACE FUNCTION {{schema}}.gather_queue_statistics() RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
  v_done boolean := false;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stats
                  WHERE schemaname = {{schema_literal}} AND tablename = 'queue_items') THEN
    ANALYZE {{schema}}.queue_items;
    v_done := true;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stats
                  WHERE schemaname = {{schema_literal}} AND tablename = 'queue_tenants') THEN
    ANALYZE {{schema}}.queue_tenants;
    v_done := true;
  END IF;
  RETURN v_done;
END
$$;

-- claim() of version 3 with, first, ack(p_ack_ids, p_ack_tokens): one 'acked' row per claim,
-- in order, with its outcome in r_outcome ('ok', 'stale', 'cancelled'), also when the queue
-- is paused. The 'running' and 'next' rows only when fewer than p_max items were claimed (the
-- worker may wait now: it needs to know until when) or, for 'running', when p_list_running:
-- a worker that got all it asked for claims again as soon as a slot is free, and asks for the
-- running claims now and then to keep its watch of them fresh.
CREATE OR REPLACE FUNCTION {{schema}}.claim(
    p_group text, p_queue text, p_worker text, p_max integer, p_visibility_us bigint,
    p_max_attempts integer, p_watched_ids bigint[], p_watched_tokens bigint[],
    p_watched_extensions bigint[], p_watched_us bigint[], p_ack_ids bigint[],
    p_ack_tokens bigint[], p_list_running boolean)
RETURNS TABLE (r_kind text, r_id bigint, r_tenant text, r_payload bytea, r_attempt integer,
               r_token bigint, r_extensions bigint, r_visibility_us bigint,
               r_remaining_us bigint, r_outcome text)
-- The plans above do not depend on the values (see the indexes), so they are made once a
-- session rather than again at every call.
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_now     timestamptz := clock_timestamp();
  v_item    {{schema}}.queue_items%ROWTYPE;
  v_tenant  text;
  v_token   bigint;
  v_claimed integer := 0;
  v_again   boolean := false;  -- A tenant the claim locked may still have a ready item.
  v_expired bigint;
  v_state   text;
  v_next    timestamptz;
BEGIN
  -- As ack() does, one statement less an item: the DELETE locks the row as live_claim()
  -- would, and waits as it would for a check_claim() fence.
  FOR i IN 1 .. coalesce(array_length(p_ack_ids, 1), 0) LOOP
    DELETE FROM {{schema}}.queue_items
     WHERE id = p_ack_ids[i] AND group_name = p_group AND queue = p_queue
       AND claim_token = p_ack_tokens[i] AND state IN ('running', 'cancelled')
    RETURNING tenant, state INTO v_tenant, v_state;
    IF NOT FOUND THEN
      r_outcome := 'stale';
    ELSIF v_state = 'cancelled' THEN
      r_outcome := 'cancelled';
    ELSE
      UPDATE {{schema}}.queue_tenants SET done = done + 1, last_success_at = v_now
       WHERE group_name = p_group AND queue = p_queue AND tenant = v_tenant;
      r_outcome := 'ok';
    END IF;
    r_kind := 'acked';
    r_id := p_ack_ids[i];
    r_token := p_ack_tokens[i];
    RETURN NEXT;
  END LOOP;
  r_id := NULL;
  r_token := NULL;
  r_outcome := NULL;

  PERFORM 1 FROM {{schema}}.queues WHERE group_name = p_group AND queue = p_queue AND paused;
  IF FOUND THEN
    RETURN QUERY SELECT 'paused'::text, NULL::bigint, NULL::text, NULL::bytea, NULL::integer,
                        NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint, NULL::text;
    RETURN;
  END IF;

  -- Only when something expired (one probe of queue_items_expiry); then the tenants' counts one
  -- by one: an UPDATE joined to the deleted rows was planned as a scan of the queue's every
  -- tenant.
  IF EXISTS (SELECT 1 FROM {{schema}}.queue_items
              WHERE ARRAY[group_name, queue] = ARRAY[p_group, p_queue] AND expires_at <= v_now
                AND state = 'pending') THEN
    FOR v_tenant, v_expired IN
      WITH gone AS (
        DELETE FROM {{schema}}.queue_items WHERE id IN (
          SELECT id FROM {{schema}}.queue_items
           WHERE ARRAY[group_name, queue] = ARRAY[p_group, p_queue] AND expires_at <= v_now
             AND state = 'pending'
           ORDER BY expires_at
           LIMIT 500 FOR UPDATE SKIP LOCKED)
        RETURNING tenant)
      SELECT tenant, count(*) FROM gone GROUP BY tenant
    LOOP
      UPDATE {{schema}}.queue_tenants SET expired = expired + v_expired
       WHERE group_name = p_group AND queue = p_queue AND tenant = v_tenant;
    END LOOP;
  END IF;

  IF coalesce(array_length(p_watched_ids, 1), 0) > 0 THEN
    FOR v_item IN
      SELECT i.* FROM {{schema}}.queue_items i
        JOIN unnest(p_watched_ids, p_watched_tokens, p_watched_extensions, p_watched_us)
             AS w(id, token, extensions, watched_us) ON w.id = i.id
       WHERE i.group_name = p_group AND i.queue = p_queue
         AND i.state IN ('running', 'cancelled') AND i.claim_expires_at <= v_now
         AND i.claim_token = w.token AND i.extensions = w.extensions
         AND w.watched_us >= i.visibility_us
         FOR UPDATE OF i SKIP LOCKED
    LOOP
      PERFORM {{schema}}.take_back(v_item, p_max_attempts, v_now);
    END LOOP;
  END IF;

  FOR v_tenant IN
    SELECT t.tenant FROM {{schema}}.queue_tenants t
     WHERE ARRAY[t.group_name, t.queue] = ARRAY[p_group, p_queue]
       AND EXISTS (SELECT 1 FROM {{schema}}.queue_items i
                    WHERE i.group_name = p_group AND i.queue = p_queue AND i.tenant = t.tenant
                      AND i.state = 'pending' AND i.ready_at <= v_now OFFSET 0)
       AND NOT EXISTS (SELECT 1 FROM {{schema}}.queue_items r
                        WHERE r.group_name = p_group AND r.queue = p_queue
                          AND r.tenant = t.tenant AND r.state IN ('running', 'cancelled')
                        OFFSET 0)
     ORDER BY t.last_served, t.seq
     LIMIT p_max
       FOR UPDATE OF t SKIP LOCKED
  LOOP
    SELECT i.* INTO v_item FROM {{schema}}.queue_items i
     WHERE i.group_name = p_group AND i.queue = p_queue AND i.tenant = v_tenant
       AND i.state = 'pending' AND i.ready_at <= v_now
       AND NOT EXISTS (SELECT 1 FROM {{schema}}.queue_items r
                        WHERE r.group_name = p_group AND r.queue = p_queue
                          AND r.tenant = v_tenant AND r.state IN ('running', 'cancelled'))
     ORDER BY i.priority DESC, i.ready_at, i.id
     LIMIT 1
       FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
      v_again := true;  -- Its item was locked or taken: another may be ready.
      CONTINUE;
    END IF;
    IF v_item.attempts >= p_max_attempts THEN
      v_again := true;  -- The tenant may have another item.
      -- Retried (or released) until no attempt is left: dead, not claimed.
      UPDATE {{schema}}.queue_items
         SET state = 'dead', last_error = format('attempts exhausted: %s of %s made',
                                                 v_item.attempts, p_max_attempts)
       WHERE id = v_item.id;
      UPDATE {{schema}}.queue_tenants SET dead = dead + 1
       WHERE group_name = p_group AND queue = p_queue AND tenant = v_tenant;
      CONTINUE;
    END IF;
    v_token := nextval('{{schema}}.claim_tokens');
    UPDATE {{schema}}.queue_items
       SET state = 'running', claim_token = v_token, claimed_by = p_worker,
           claim_expires_at = v_now + p_visibility_us * interval '1 microsecond',
           visibility_us = p_visibility_us, extensions = 0, attempts = attempts + 1,
           expires_at = NULL
     WHERE id = v_item.id;
    UPDATE {{schema}}.queue_tenants SET last_served = v_token
     WHERE group_name = p_group AND queue = p_queue AND tenant = v_tenant;
    v_claimed := v_claimed + 1;
    r_kind := 'item';
    r_id := v_item.id;
    r_tenant := v_tenant;
    r_payload := v_item.payload;
    r_attempt := v_item.attempts + 1;
    r_token := v_token;
    r_extensions := 0;
    r_visibility_us := p_visibility_us;
    r_remaining_us := p_visibility_us;
    r_outcome := NULL;
    RETURN NEXT;
  END LOOP;

  IF p_list_running OR v_claimed < p_max THEN
    RETURN QUERY
      SELECT 'running'::text, i.id, NULL::text, NULL::bytea, i.attempts, i.claim_token,
             i.extensions, i.visibility_us,
             floor(extract(epoch FROM i.claim_expires_at - clock_timestamp()) * 1000000)::bigint,
             NULL::text
        FROM {{schema}}.queue_items i
       WHERE i.group_name = p_group AND i.queue = p_queue
         AND i.state IN ('running', 'cancelled')
       ORDER BY i.claim_expires_at LIMIT 1000;
  END IF;

  IF v_claimed >= p_max THEN
    RETURN;
  END IF;
  SELECT min(ready_at) INTO v_next FROM {{schema}}.queue_items
   WHERE ARRAY[group_name, queue] = ARRAY[p_group, p_queue] AND state = 'pending'
     AND ready_at > v_now;
  -- Claimed fewer than asked for: the loop saw every free tenant with a ready item (but
  -- those another transaction had locked, which is claiming or finishing there). Claim again
  -- at once only when a tenant it locked may still have one.
  IF v_again THEN
    v_next := v_now;
  END IF;
  IF v_next IS NOT NULL THEN
    RETURN QUERY SELECT 'next'::text, NULL::bigint, NULL::text, NULL::bytea, NULL::integer,
                        NULL::bigint, NULL::bigint, NULL::bigint,
                        greatest(0, floor(extract(epoch FROM v_next - clock_timestamp())
                                          * 1000000))::bigint,
                        NULL::text;
  END IF;
END
$$;

-- Version 3's claim(), for the programs that call it: the claim above with nothing to
-- acknowledge and the running claims listed, as it always listed them.
CREATE OR REPLACE FUNCTION {{schema}}.claim(
    p_group text, p_queue text, p_worker text, p_max integer, p_visibility_us bigint,
    p_max_attempts integer, p_watched_ids bigint[], p_watched_tokens bigint[],
    p_watched_extensions bigint[], p_watched_us bigint[])
RETURNS TABLE (r_kind text, r_id bigint, r_tenant text, r_payload bytea, r_attempt integer,
               r_token bigint, r_extensions bigint, r_visibility_us bigint,
               r_remaining_us bigint)
LANGUAGE sql AS $$
  SELECT c.r_kind, c.r_id, c.r_tenant, c.r_payload, c.r_attempt, c.r_token, c.r_extensions,
         c.r_visibility_us, c.r_remaining_us
    FROM {{schema}}.claim(p_group, p_queue, p_worker, p_max, p_visibility_us, p_max_attempts,
                          p_watched_ids, p_watched_tokens, p_watched_extensions, p_watched_us,
                          ARRAY[]::bigint[], ARRAY[]::bigint[], true) AS c;
$$;
