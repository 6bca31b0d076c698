-- baton's PostgreSQL schema, version 7: a passive's heartbeat that reads the lease once. Run
-- by Migrate() after version 6, in the same transaction under the same advisory lock.
-- {{schema}} is the quoted schema name.
--
-- A contender's attempt on a lease that a live other holds cannot succeed, so it now reads
-- the row once and stops there, instead of an UPDATE's search, a look at the handovers and a
-- second read. The attempt itself, when it is made, still judges the row as it is then.
--
-- Signatures stay as they were: programs of versions 1 to 6 call this heartbeat() (directly or
-- through version 5's wrapper), and it behaves for them as before.

-- As version 6's (see schema_v6.sql for the rules of each step), with the early read of the
-- lease for an attempt that cannot succeed.
CREATE OR REPLACE FUNCTION {{schema}}.heartbeat(
    p_group text, p_name text, p_id text, p_holder text, p_host text, p_pid bigint,
    p_version text, p_role text, p_member_ttl_us bigint, p_intent text, p_lease_ttl_us bigint,
    p_token bigint, p_watched_holder text, p_watched_token bigint, p_watched_renewals bigint,
    p_watched_us bigint, p_priority bigint,
    OUT r_held boolean, OUT r_acquired boolean, OUT r_holder text, OUT r_token bigint,
    OUT r_renewals bigint, OUT r_remaining_us bigint, OUT r_ttl_us bigint, OUT r_reaped text,
    OUT r_handover_to text)
LANGUAGE plpgsql AS $$
DECLARE
  v_now       timestamptz := clock_timestamp();
  v_lease_ttl interval := p_lease_ttl_us * interval '1 microsecond';
  v_lease     {{schema}}.leases%ROWTYPE;
  v_intent    text := p_intent;
  v_read      boolean := false;  -- v_lease holds the row as this call last read it.
BEGIN
  r_held := false;
  r_acquired := false;
  r_reaped := '[]';

  UPDATE {{schema}}.members
     SET role = p_role, heartbeat_at = v_now,
         expires_at = v_now + p_member_ttl_us * interval '1 microsecond'
   WHERE group_name = p_group AND id = p_id AND holder = p_holder;
  IF NOT FOUND THEN
    -- Reaped while we were paused or cut off: back in, unless a live process took the id.
    PERFORM {{schema}}.put_member(p_group, p_id, p_holder, p_host, p_pid, p_version, p_role,
                                  p_member_ttl_us, v_now);
  END IF;
  IF p_priority <> 0 THEN
    UPDATE {{schema}}.members SET priority = p_priority
     WHERE group_name = p_group AND id = p_id AND holder = p_holder AND priority <> p_priority;
  END IF;

  -- An attempt on a lease that a live other holds (a passive's every heartbeat) cannot
  -- succeed: read the row once and leave it at that. The attempt itself re-checks all of this
  -- on the row as it is when it runs; this only spares the statements.
  IF v_intent = 'acquire' THEN
    SELECT * INTO v_lease FROM {{schema}}.leases WHERE group_name = p_group AND name = p_name;
    v_read := FOUND;
    IF v_read AND NOT coalesce(v_lease.holder = '' OR v_lease.holder = p_holder
                               OR (v_lease.expires_at <= v_now AND p_watched_us IS NOT NULL
                                   AND v_lease.holder = p_watched_holder
                                   AND v_lease.token = p_watched_token
                                   AND v_lease.renewals = p_watched_renewals
                                   AND p_watched_us >= v_lease.ttl_us), false) THEN
      v_intent := 'observe';
    -- A released lease reserved for another member by a step-down: only observe it.
    ELSIF v_read AND EXISTS (
        SELECT 1 FROM {{schema}}.handovers h
         WHERE h.group_name = p_group AND h.name = p_name AND h.token = v_lease.token
           AND h.to_id NOT IN ('', p_id) AND h.reserved_until > clock_timestamp()) THEN
      v_intent := 'observe';
    ELSE
      v_read := false;  -- It may change hands: read it again after the attempt.
    END IF;
  END IF;

  IF v_intent = 'renew' THEN
    UPDATE {{schema}}.leases
       SET renewals = renewals + 1, ttl_us = p_lease_ttl_us, expires_at = v_now + v_lease_ttl
     -- Compare-and-set on holder and token only: a lease nobody took is still its holder's
     -- even when the database's clock says it expired (a forward step of that clock must not
     -- end a live lease); the holder's own deadline decides whether it may still work.
     WHERE group_name = p_group AND name = p_name AND holder = p_holder AND holder <> ''
       AND token = p_token
    RETURNING renewals INTO r_renewals;
    r_held := FOUND;
    IF r_held THEN
      PERFORM {{schema}}.announce('renew', p_group, p_name, p_holder, p_token, r_renewals);
    END IF;
  ELSIF v_intent = 'acquire' THEN
    IF v_lease.group_name IS NULL THEN
      INSERT INTO {{schema}}.leases
          (group_name, name, holder, token, renewals, ttl_us, acquired_at, expires_at)
      VALUES (p_group, p_name, p_holder, 1, 0, p_lease_ttl_us, v_now, v_now + v_lease_ttl)
      -- No conflict target: a racing first insert may trip leases_token_key rather than the
      -- primary key, and either way that contender simply did not acquire.
      ON CONFLICT DO NOTHING;
      r_acquired := FOUND;
    ELSE
      -- The inner SELECT judges the row as it is now and locks it only if it is takeable;
      -- a row someone else has locked is skipped (not acquired) instead of waited for.
      UPDATE {{schema}}.leases AS l
         SET holder = p_holder, token = l.token + 1, renewals = 0, ttl_us = p_lease_ttl_us,
             acquired_at = v_now, expires_at = v_now + v_lease_ttl
        FROM (SELECT group_name, name FROM {{schema}}.leases
               WHERE group_name = p_group AND name = p_name
                 AND (holder = '' OR holder = p_holder
                      OR (expires_at <= v_now AND p_watched_us IS NOT NULL
                          AND holder = p_watched_holder AND token = p_watched_token
                          AND renewals = p_watched_renewals AND p_watched_us >= ttl_us))
                 FOR UPDATE SKIP LOCKED) AS t
       WHERE l.group_name = t.group_name AND l.name = t.name;
      r_acquired := FOUND;
    END IF;
    r_held := r_acquired;
  END IF;

  IF NOT v_read THEN
    SELECT * INTO v_lease FROM {{schema}}.leases WHERE group_name = p_group AND name = p_name;
  END IF;
  IF r_acquired THEN
    PERFORM {{schema}}.announce('acquire', p_group, p_name, p_holder, v_lease.token, 0);
  END IF;

  -- The holder reaps; while nobody live holds the lease, everyone does. Reaping never
  -- touches the lease. SKIP LOCKED: two instances reaping at once each report a row once,
  -- and neither waits.
  IF r_held OR v_lease.group_name IS NULL OR v_lease.holder = '' OR v_lease.holder = p_holder
     OR v_lease.expires_at <= v_now THEN
    WITH reaped AS (
      DELETE FROM {{schema}}.members
       WHERE (group_name, id) IN (
               SELECT group_name, id FROM {{schema}}.members
                WHERE group_name = p_group AND expires_at <= v_now
                  FOR UPDATE SKIP LOCKED)
      RETURNING id)
    SELECT coalesce(json_agg(id ORDER BY id), '[]'::json)::text INTO r_reaped FROM reaped;
  END IF;

  r_holder := '';
  r_token := 0;
  r_renewals := 0;
  r_remaining_us := 0;
  r_ttl_us := 0;
  IF v_lease.group_name IS NOT NULL THEN
    r_token := v_lease.token;
    r_ttl_us := v_lease.ttl_us;
    IF v_lease.holder <> '' THEN
      r_holder := v_lease.holder;
      r_renewals := v_lease.renewals;
      r_remaining_us := floor(extract(epoch FROM v_lease.expires_at - clock_timestamp())
                              * 1000000)::bigint;
    END IF;
  END IF;
  IF v_intent = 'observe' THEN
    r_held := r_holder = p_holder AND r_remaining_us > 0;
  END IF;
  IF p_intent = 'renew' AND r_held THEN
    SELECT to_id INTO r_handover_to FROM {{schema}}.handovers
     WHERE group_name = p_group AND name = p_name AND token = p_token;
  END IF;
END
$$;
