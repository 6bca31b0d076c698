-- baton's PostgreSQL schema, version 2: the work queues (SPEC 3), beside version 1's tables,
-- which it does not change (so it stays usable by a version 1 program). Run by Migrate()
-- after version 1, in the same transaction under the same advisory lock. {{schema}} is the
-- quoted schema name and {{schema_literal}} the same name as a string literal; every other
-- value is a bound parameter at call time.
--
-- Times are the database's clock_timestamp(). Tenants' times are for people.

CREATE TABLE {{schema}}.queues (
  group_name text    NOT NULL,
  queue      text    NOT NULL,
  paused     boolean NOT NULL DEFAULT false,
  PRIMARY KEY (group_name, queue)
);

-- One row per tenant a queue has seen. A claim locks the tenant's row (FOR UPDATE SKIP
-- LOCKED), so two claims never pick the same tenant at once, and serves the smallest
-- last_served (the claim token of the tenant's latest claim; 0: never) first, then the oldest
-- row: round-robin across tenants (SPEC 3.5). Totals live here, not in one row per queue, so
-- finishing items of different tenants never writes the same row.
CREATE TABLE {{schema}}.queue_tenants (
  seq             bigint GENERATED ALWAYS AS IDENTITY,
  group_name      text   NOT NULL,
  queue           text   NOT NULL,
  tenant          text   NOT NULL,
  last_served     bigint NOT NULL DEFAULT 0,
  done            bigint NOT NULL DEFAULT 0,
  failed          bigint NOT NULL DEFAULT 0,
  dead            bigint NOT NULL DEFAULT 0,
  expired         bigint NOT NULL DEFAULT 0,
  last_success_at timestamptz,
  last_failure_at timestamptz,
  last_error      text   NOT NULL DEFAULT '',
  PRIMARY KEY (group_name, queue, tenant)
);
CREATE INDEX queue_tenants_served ON {{schema}}.queue_tenants (group_name, queue, last_served, seq);

-- Claim tokens: new at every claim, never reused.
CREATE SEQUENCE {{schema}}.claim_tokens;

CREATE TABLE {{schema}}.queue_items (
  id               bigint  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  group_name       text    NOT NULL,
  queue            text    NOT NULL,
  tenant           text    NOT NULL,
  payload          bytea   NOT NULL,
  priority         integer NOT NULL,
  state            text    NOT NULL,  -- pending | running | cancelled | dead
  is_unique        boolean NOT NULL,
  offered_at       timestamptz NOT NULL,
  ready_at         timestamptz NOT NULL,  -- pending: claimable from then (delay, retry)
  expires_at       timestamptz,           -- the time-to-live while never claimed; NULL once claimed
  claim_token      bigint,
  claimed_by       text    NOT NULL DEFAULT '',
  claim_expires_at timestamptz,
  visibility_us    bigint,
  extensions       bigint  NOT NULL DEFAULT 0,
  attempts         integer NOT NULL DEFAULT 0,
  releases         integer NOT NULL DEFAULT 0,
  last_error       text    NOT NULL DEFAULT '',
  exit_code        integer,
  -- Makes the claim token a key column: taking a claim back (which changes it) needs FOR
  -- UPDATE, which waits for the FOR KEY SHARE that check_claim holds in a user's transaction;
  -- an extension changes only non-key columns and does not wait.
  CONSTRAINT queue_items_claim_key UNIQUE (claim_token)
) WITH (fillfactor = 80);
-- At most one claimed item per tenant (SPEC 3.3), whatever the claiming code does.
CREATE UNIQUE INDEX queue_items_one_running ON {{schema}}.queue_items (group_name, queue, tenant)
  WHERE state IN ('running', 'cancelled');
-- At most one live unique item per tenant (SPEC 3.1).
CREATE UNIQUE INDEX queue_items_one_unique ON {{schema}}.queue_items (group_name, queue, tenant)
  WHERE is_unique AND state IN ('pending', 'running', 'cancelled');
CREATE INDEX queue_items_ready ON {{schema}}.queue_items
  (group_name, queue, tenant, priority DESC, ready_at, id) WHERE state = 'pending';
CREATE INDEX queue_items_state ON {{schema}}.queue_items (group_name, queue, state, ready_at);
CREATE INDEX queue_items_ttl ON {{schema}}.queue_items (group_name, queue, expires_at)
  WHERE expires_at IS NOT NULL;

-- The NOTIFY channel of a queue: one notification per offer statement.
CREATE FUNCTION {{schema}}.queue_channel(p_group text, p_queue text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 'baton_q_' || to_hex(hashtextextended({{schema_literal}} || '/' || p_group || '/' || p_queue, 0));
$$;

-- Offers items (at most a few hundred per call: the client splits bigger offers). With a
-- fence, inserts only while lease p_fence_lease of the group is held with p_fence_token,
-- holding FOR KEY SHARE on it so a takeover waits for this transaction; otherwise returns
-- r_fenced and inserts nothing. With p_unique, a tenant that has a live item is skipped (its
-- id NULL): checked here, and enforced under races by queue_items_one_unique, on which the
-- insert does nothing instead of failing. An expired pending item of the tenant is replaced.
CREATE FUNCTION {{schema}}.offer(
    p_group text, p_queue text, p_unique boolean, p_fence_lease text, p_fence_token bigint,
    p_tenants text[], p_payloads_hex text[], p_priorities integer[], p_delays_us bigint[],
    p_ttls_us bigint[], OUT r_fenced boolean, OUT r_ids bigint[])
LANGUAGE plpgsql AS $$
DECLARE
  v_now timestamptz := clock_timestamp();
  v_id  bigint;
  v_n   bigint;
BEGIN
  r_fenced := false;
  r_ids := ARRAY[]::bigint[];
  IF p_fence_lease IS NOT NULL THEN
    PERFORM 1 FROM {{schema}}.leases
     WHERE group_name = p_group AND name = p_fence_lease AND holder <> ''
       AND token = p_fence_token AND expires_at > v_now
       FOR KEY SHARE;
    IF NOT FOUND THEN
      r_fenced := true;
      RETURN;
    END IF;
  END IF;
  INSERT INTO {{schema}}.queues (group_name, queue) VALUES (p_group, p_queue)
  ON CONFLICT DO NOTHING;
  FOR i IN 1 .. coalesce(array_length(p_tenants, 1), 0) LOOP
    INSERT INTO {{schema}}.queue_tenants (group_name, queue, tenant)
    VALUES (p_group, p_queue, p_tenants[i]) ON CONFLICT DO NOTHING;
    IF p_unique THEN
      DELETE FROM {{schema}}.queue_items
       WHERE group_name = p_group AND queue = p_queue AND tenant = p_tenants[i]
         AND state = 'pending' AND expires_at <= v_now;
      GET DIAGNOSTICS v_n = ROW_COUNT;
      IF v_n > 0 THEN
        UPDATE {{schema}}.queue_tenants SET expired = expired + v_n
         WHERE group_name = p_group AND queue = p_queue AND tenant = p_tenants[i];
      END IF;
      PERFORM 1 FROM {{schema}}.queue_items
       WHERE group_name = p_group AND queue = p_queue AND tenant = p_tenants[i]
         AND state IN ('pending', 'running', 'cancelled');
      IF FOUND THEN
        r_ids := r_ids || NULL::bigint;
        CONTINUE;
      END IF;
    END IF;
    v_id := NULL;
    INSERT INTO {{schema}}.queue_items
        (group_name, queue, tenant, payload, priority, state, is_unique, offered_at, ready_at,
         expires_at)
    VALUES (p_group, p_queue, p_tenants[i], decode(p_payloads_hex[i], 'hex'), p_priorities[i], 'pending', p_unique,
            v_now, v_now + p_delays_us[i] * interval '1 microsecond',
            v_now + p_ttls_us[i] * interval '1 microsecond')
    ON CONFLICT DO NOTHING
    RETURNING id INTO v_id;
    r_ids := r_ids || v_id;
  END LOOP;
  PERFORM pg_notify({{schema}}.queue_channel(p_group, p_queue), 'offer');
END
$$;

-- Takes an item's claim back to pending (or to the dead letters, or away when cancelled),
-- counting the failure. For claim().
CREATE FUNCTION {{schema}}.take_back(p_item {{schema}}.queue_items, p_max_attempts integer,
                                     p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_why text := 'claim expired: the worker was lost';
  v_dead boolean := p_item.attempts >= p_max_attempts;
BEGIN
  IF p_item.state = 'cancelled' THEN
    DELETE FROM {{schema}}.queue_items WHERE id = p_item.id;
    RETURN;
  END IF;
  UPDATE {{schema}}.queue_items
     SET state = CASE WHEN v_dead THEN 'dead' ELSE 'pending' END, ready_at = p_now,
         claim_token = NULL, claim_expires_at = NULL, last_error = v_why, exit_code = NULL
   WHERE id = p_item.id;
  UPDATE {{schema}}.queue_tenants
     SET failed = failed + 1, dead = dead + CASE WHEN v_dead THEN 1 ELSE 0 END,
         last_failure_at = p_now, last_error = v_why
   WHERE group_name = p_item.group_name AND queue = p_item.queue AND tenant = p_item.tenant;
END
$$;

-- One claim, in one statement (SPEC 3.2-3.5). Returns rows of three kinds:
--   'item'    a claimed item (r_id, r_tenant, r_payload, r_attempt, r_token);
--   'running' a live claim of the queue (r_id, r_token, r_extensions, r_visibility_us and
--             r_remaining_us by this clock), for the caller's own watch of claims;
--   'next'    r_remaining_us until a waiting item becomes ready (0: a free tenant still has
--             a ready item); none when no pending item could ever be claimed;
--   'paused'  the queue is paused, and nothing else.
-- Steps: drop never-claimed items past their ttl (counted as expired); take back expired
-- claims that the caller has itself watched unchanged — same token and extension count — for
-- their visibility on its own clock (p_watched_*: SPEC 3.3, a forward step of this clock
-- cannot free a live claim), skipping rows locked by a check_claim; then for up to p_max free
-- tenants, served longest ago first, lock the tenant row (SKIP LOCKED: another claim has it)
-- and claim its best ready item. Each step is its own statement, so once a tenant's row is
-- ours, the check for a running item sees every claim committed before: the partial unique
-- index is never hit, and a claim never fails or waits on another's tenant (pg-boss #535).
CREATE FUNCTION {{schema}}.claim(
    p_group text, p_queue text, p_worker text, p_max integer, p_visibility_us bigint,
    p_max_attempts integer, p_watched_ids bigint[], p_watched_tokens bigint[],
    p_watched_extensions bigint[], p_watched_us bigint[])
RETURNS TABLE (r_kind text, r_id bigint, r_tenant text, r_payload bytea, r_attempt integer,
               r_token bigint, r_extensions bigint, r_visibility_us bigint,
               r_remaining_us bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_now     timestamptz := clock_timestamp();
  v_item    {{schema}}.queue_items%ROWTYPE;
  v_tenant  text;
  v_token   bigint;
  v_claimed integer := 0;
  v_next    timestamptz;
BEGIN
  PERFORM 1 FROM {{schema}}.queues WHERE group_name = p_group AND queue = p_queue AND paused;
  IF FOUND THEN
    RETURN QUERY SELECT 'paused'::text, NULL::bigint, NULL::text, NULL::bytea, NULL::integer,
                        NULL::bigint, NULL::bigint, NULL::bigint, NULL::bigint;
    RETURN;
  END IF;

  WITH gone AS (
    DELETE FROM {{schema}}.queue_items WHERE id IN (
      SELECT id FROM {{schema}}.queue_items
       WHERE group_name = p_group AND queue = p_queue AND expires_at <= v_now
         AND state = 'pending'
       LIMIT 500 FOR UPDATE SKIP LOCKED)
    RETURNING tenant),
  counted AS (SELECT tenant, count(*) AS n FROM gone GROUP BY tenant)
  UPDATE {{schema}}.queue_tenants t SET expired = t.expired + c.n FROM counted c
   WHERE t.group_name = p_group AND t.queue = p_queue AND t.tenant = c.tenant;

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

  FOR v_tenant IN
    SELECT t.tenant FROM {{schema}}.queue_tenants t
     WHERE t.group_name = p_group AND t.queue = p_queue
       AND EXISTS (SELECT 1 FROM {{schema}}.queue_items i
                    WHERE i.group_name = p_group AND i.queue = p_queue AND i.tenant = t.tenant
                      AND i.state = 'pending' AND i.ready_at <= v_now)
       AND NOT EXISTS (SELECT 1 FROM {{schema}}.queue_items r
                        WHERE r.group_name = p_group AND r.queue = p_queue
                          AND r.tenant = t.tenant AND r.state IN ('running', 'cancelled'))
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
    CONTINUE WHEN NOT FOUND;
    IF v_item.attempts >= p_max_attempts THEN
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
    r_kind := 'item';
    r_id := v_item.id;
    r_tenant := v_tenant;
    r_payload := v_item.payload;
    r_attempt := v_item.attempts + 1;
    r_token := v_token;
    r_extensions := 0;
    r_visibility_us := p_visibility_us;
    r_remaining_us := p_visibility_us;
    RETURN NEXT;
  END LOOP;

  RETURN QUERY
    SELECT 'running'::text, i.id, NULL::text, NULL::bytea, i.attempts, i.claim_token,
           i.extensions, i.visibility_us,
           floor(extract(epoch FROM i.claim_expires_at - clock_timestamp()) * 1000000)::bigint
      FROM {{schema}}.queue_items i
     WHERE i.group_name = p_group AND i.queue = p_queue AND i.state IN ('running', 'cancelled')
     ORDER BY i.claim_expires_at LIMIT 1000;

  SELECT min(ready_at) INTO v_next FROM {{schema}}.queue_items
   WHERE group_name = p_group AND queue = p_queue AND state = 'pending' AND ready_at > v_now;
  IF EXISTS (SELECT 1 FROM {{schema}}.queue_tenants t
              WHERE t.group_name = p_group AND t.queue = p_queue
                AND EXISTS (SELECT 1 FROM {{schema}}.queue_items i
                             WHERE i.group_name = p_group AND i.queue = p_queue
                               AND i.tenant = t.tenant AND i.state = 'pending'
                               AND i.ready_at <= v_now)
                AND NOT EXISTS (SELECT 1 FROM {{schema}}.queue_items r
                                 WHERE r.group_name = p_group AND r.queue = p_queue
                                   AND r.tenant = t.tenant
                                   AND r.state IN ('running', 'cancelled'))) THEN
    v_next := v_now;
  END IF;
  IF v_next IS NOT NULL THEN
    RETURN QUERY SELECT 'next'::text, NULL::bigint, NULL::text, NULL::bytea, NULL::integer,
                        NULL::bigint, NULL::bigint, NULL::bigint,
                        greatest(0, floor(extract(epoch FROM v_next - clock_timestamp())
                                          * 1000000))::bigint;
  END IF;
END
$$;

-- The state of item p_id if p_token is its live claim ('running' or 'cancelled'), else NULL;
-- locks the row for the rest of the call.
CREATE FUNCTION {{schema}}.live_claim(p_group text, p_queue text, p_id bigint, p_token bigint)
RETURNS text LANGUAGE sql AS $$
  SELECT state FROM {{schema}}.queue_items
   WHERE id = p_id AND group_name = p_group AND queue = p_queue AND claim_token = p_token
     AND state IN ('running', 'cancelled')
     FOR NO KEY UPDATE;
$$;

-- 'ok', 'stale' or 'cancelled'. Extends a running claim to now + p_visibility_us.
CREATE FUNCTION {{schema}}.extend(p_group text, p_queue text, p_id bigint, p_token bigint,
                                  p_visibility_us bigint)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_state text := {{schema}}.live_claim(p_group, p_queue, p_id, p_token);
BEGIN
  IF v_state IS NULL THEN RETURN 'stale'; END IF;
  IF v_state = 'cancelled' THEN RETURN 'cancelled'; END IF;
  UPDATE {{schema}}.queue_items
     SET claim_expires_at = clock_timestamp() + p_visibility_us * interval '1 microsecond',
         visibility_us = p_visibility_us, extensions = extensions + 1
   WHERE id = p_id;
  RETURN 'ok';
END
$$;

-- Acknowledges many claims in one statement; one outcome per claim, in order.
CREATE FUNCTION {{schema}}.ack(p_group text, p_queue text, p_ids bigint[], p_tokens bigint[])
RETURNS TABLE (r_outcome text) LANGUAGE plpgsql AS $$
DECLARE
  v_state text;
  v_tenant text;
BEGIN
  FOR i IN 1 .. coalesce(array_length(p_ids, 1), 0) LOOP
    v_state := {{schema}}.live_claim(p_group, p_queue, p_ids[i], p_tokens[i]);
    IF v_state IS NULL THEN
      r_outcome := 'stale';
    ELSE
      DELETE FROM {{schema}}.queue_items WHERE id = p_ids[i] RETURNING tenant INTO v_tenant;
      IF v_state = 'cancelled' THEN
        r_outcome := 'cancelled';
      ELSE
        UPDATE {{schema}}.queue_tenants
           SET done = done + 1, last_success_at = clock_timestamp()
         WHERE group_name = p_group AND queue = p_queue AND tenant = v_tenant;
        r_outcome := 'ok';
      END IF;
    END IF;
    RETURN NEXT;
  END LOOP;
END
$$;

-- Fails the attempt: retried after p_retry_us, or dead-lettered when p_dead_now.
CREATE FUNCTION {{schema}}.fail(p_group text, p_queue text, p_id bigint, p_token bigint,
                                p_error text, p_exit_code integer, p_retry_us bigint,
                                p_dead_now boolean, OUT r_outcome text, OUT r_dead boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_state text := {{schema}}.live_claim(p_group, p_queue, p_id, p_token);
  v_tenant text;
BEGIN
  r_dead := false;
  IF v_state IS NULL THEN
    r_outcome := 'stale';
    RETURN;
  END IF;
  IF v_state = 'cancelled' THEN
    DELETE FROM {{schema}}.queue_items WHERE id = p_id RETURNING tenant INTO v_tenant;
    r_outcome := 'cancelled';
  ELSE
    UPDATE {{schema}}.queue_items
       SET state = CASE WHEN p_dead_now THEN 'dead' ELSE 'pending' END,
           ready_at = clock_timestamp() + p_retry_us * interval '1 microsecond',
           claim_token = NULL, claim_expires_at = NULL, last_error = p_error,
           exit_code = p_exit_code
     WHERE id = p_id RETURNING tenant INTO v_tenant;
    r_outcome := 'ok';
    r_dead := p_dead_now;
    UPDATE {{schema}}.queue_tenants
       SET failed = failed + 1, dead = dead + CASE WHEN p_dead_now THEN 1 ELSE 0 END
     WHERE group_name = p_group AND queue = p_queue AND tenant = v_tenant;
  END IF;
  UPDATE {{schema}}.queue_tenants SET last_failure_at = clock_timestamp(), last_error = p_error
   WHERE group_name = p_group AND queue = p_queue AND tenant = v_tenant;
END
$$;

-- Gives the claim up, ready at once; the attempt is given back the first p_max_releases times.
CREATE FUNCTION {{schema}}.release_claim(p_group text, p_queue text, p_id bigint,
                                         p_token bigint, p_max_releases integer)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  v_state text := {{schema}}.live_claim(p_group, p_queue, p_id, p_token);
BEGIN
  IF v_state IS NULL THEN RETURN 'stale'; END IF;
  IF v_state = 'cancelled' THEN
    DELETE FROM {{schema}}.queue_items WHERE id = p_id;
    RETURN 'cancelled';
  END IF;
  UPDATE {{schema}}.queue_items
     SET state = 'pending', ready_at = clock_timestamp(), claim_token = NULL,
         claim_expires_at = NULL,
         attempts = CASE WHEN releases < p_max_releases THEN greatest(attempts - 1, 0)
                         ELSE attempts END,
         releases = releases + 1
   WHERE id = p_id;
  RETURN 'ok';
END
$$;

-- Fencing by the claim, for the worker's own transactions on this database (SPEC 3.2):
--   SELECT {{schema}}.check_claim('my-group', 'my-queue', 1234, 42);
-- raises SQLSTATE BT003 unless 42 is the live claim of item 1234 (running: not finished,
-- cancelled or claimed again). On success it holds FOR KEY SHARE on the item until the
-- transaction ends: taking the claim back (which changes the claim token, a key column)
-- waits for it, or skips the item, while extensions (non-key columns) do not. An expired claim
-- that nobody took back still passes: whether its worker may still work is the worker's
-- deadline's call. SECURITY DEFINER: the application's role needs only EXECUTE on it.
CREATE FUNCTION {{schema}}.check_claim(p_group text, p_queue text, p_item bigint,
                                       p_claim_token bigint)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_item record;
BEGIN
  SELECT state, claim_token INTO v_item FROM {{schema}}.queue_items
   WHERE id = p_item AND group_name = p_group AND queue = p_queue
     FOR KEY SHARE;
  IF NOT FOUND OR v_item.state <> 'running' OR v_item.claim_token IS DISTINCT FROM p_claim_token
  THEN
    RAISE EXCEPTION USING ERRCODE = 'BT003',
      MESSAGE = format('baton: claim token %s is not the live claim of item %s of queue %s',
                       p_claim_token, p_item, p_queue),
      DETAIL = CASE WHEN NOT FOUND THEN 'The item is gone (done, purged or never there).'
                    WHEN v_item.state = 'cancelled' THEN 'The item was cancelled.'
                    WHEN v_item.state <> 'running' THEN 'The item is not running.'
                    ELSE 'The item was claimed again.' END,
      HINT = 'This claim is over: roll back and stop the work.';
  END IF;
END
$$;

REVOKE ALL ON FUNCTION {{schema}}.check_claim(text, text, bigint, bigint) FROM PUBLIC;
