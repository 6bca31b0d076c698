-- baton's PostgreSQL schema, version 1. Run by Migrate() inside one transaction under an
-- advisory lock. {{schema}} is the quoted schema name and {{schema_literal}} the same name as
-- a string literal; every other value is a bound parameter at call time.
--
-- Times are the database's clock_timestamp(), read once per call. Lease rows are never
-- deleted, so a lease's token only grows over its whole life.

CREATE TABLE {{schema}}.members (
  group_name   text        NOT NULL,
  id           text        NOT NULL,
  holder       text        NOT NULL,
  host         text        NOT NULL,
  pid          bigint      NOT NULL,
  version      text        NOT NULL,
  role         text        NOT NULL,
  started_at   timestamptz NOT NULL,  -- for people only
  heartbeat_at timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL,
  PRIMARY KEY (group_name, id)
) WITH (fillfactor = 70);
-- Every heartbeat looks for the group's expired members; this keeps that a probe that finds
-- nothing instead of a scan of the whole group.
CREATE INDEX members_expiry ON {{schema}}.members (group_name, expires_at);

CREATE TABLE {{schema}}.leases (
  group_name  text        NOT NULL,
  name        text        NOT NULL,
  holder      text        NOT NULL,  -- '' when free (never taken, or released)
  token       bigint      NOT NULL,  -- kept on release
  renewals    bigint      NOT NULL,  -- since the current holder took it
  ttl_us      bigint      NOT NULL,  -- the holder's ttl: how long a contender must watch
  acquired_at timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (group_name, name),
  -- Makes the token a key column. An update that changes it (a takeover) needs FOR UPDATE,
  -- which waits for the FOR KEY SHARE that check_token holds in a user's transaction; a
  -- renewal or a release changes only non-key columns (FOR NO KEY UPDATE), which does not.
  CONSTRAINT leases_token_key UNIQUE (group_name, name, token)
) WITH (fillfactor = 70);

-- The NOTIFY channel of a group: releases, acquisitions, renewals and departures in the group
-- are announced there (JSON payloads with "event", "group" and "lease" or "id"), so an
-- instance listens only to its own group. Hash collisions only cost a payload check.
CREATE FUNCTION {{schema}}.channel(p_group text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 'baton_' || to_hex(hashtextextended({{schema_literal}} || '/' || p_group, 0));
$$;

-- Announces the lease as it is now to the group's listeners: contenders that watch it learn
-- of each renewal the moment it commits (SPEC 2.5), without polling.
CREATE FUNCTION {{schema}}.announce(p_event text, p_group text, p_name text, p_holder text,
                                    p_token bigint, p_renewals bigint)
RETURNS void LANGUAGE sql AS $$
  SELECT pg_notify({{schema}}.channel(p_group), json_build_object(
      'event', p_event, 'group', p_group, 'lease', p_name, 'holder', p_holder,
      'token', p_token, 'renewals', p_renewals)::text);
$$;

-- Writes the member row of p_holder, replacing a row with the same id only when it is the
-- same holder's or has expired. SQLSTATE BT002 when a live other holder has the id; its
-- DETAIL is {"host": ..., "pid": ...} of that holder.
CREATE FUNCTION {{schema}}.put_member(
    p_group text, p_id text, p_holder text, p_host text, p_pid bigint, p_version text,
    p_role text, p_ttl_us bigint, p_now timestamptz)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_other record;
BEGIN
  INSERT INTO {{schema}}.members AS m
      (group_name, id, holder, host, pid, version, role, started_at, heartbeat_at, expires_at)
  VALUES (p_group, p_id, p_holder, p_host, p_pid, p_version, p_role, p_now, p_now,
          p_now + p_ttl_us * interval '1 microsecond')
  ON CONFLICT (group_name, id) DO UPDATE
    SET holder = excluded.holder, host = excluded.host, pid = excluded.pid,
        version = excluded.version, role = excluded.role, started_at = excluded.started_at,
        heartbeat_at = excluded.heartbeat_at, expires_at = excluded.expires_at
    WHERE m.holder = excluded.holder OR m.expires_at <= p_now;
  IF NOT FOUND THEN
    SELECT host, pid INTO v_other FROM {{schema}}.members
     WHERE group_name = p_group AND id = p_id;
    RAISE EXCEPTION USING ERRCODE = 'BT002',
      MESSAGE = format('instance id %s is already in use in group %s', p_id, p_group),
      DETAIL = json_build_object('host', v_other.host, 'pid', v_other.pid)::text;
  END IF;
END
$$;

-- One heartbeat, in one statement and so one transaction (SPEC 2.2): refresh (or re-insert)
-- the caller's member row, delete the group's expired member rows (returned as a JSON array
-- of ids; the lease is never touched by this), then act on the lease:
--   'renew'   extends it iff p_holder still holds it with p_token and it has not expired;
--   'acquire' takes it iff it is free, already p_holder's (a new interval, a new token), or
--             expired by this clock AND the caller has watched this very (holder, token,
--             renewals) stay unchanged for the holder's ttl on its own clock (p_watched_*);
--             a row locked by anyone (a fencing check_token, a renewal, another contender)
--             is skipped, never waited for: not acquired;
--   'observe' leaves it alone.
-- Returns the lease after the call; r_remaining_us is judged by this database's clock.
CREATE FUNCTION {{schema}}.heartbeat(
    p_group text, p_name text, p_id text, p_holder text, p_host text, p_pid bigint,
    p_version text, p_role text, p_member_ttl_us bigint, p_intent text, p_lease_ttl_us bigint,
    p_token bigint, p_watched_holder text, p_watched_token bigint, p_watched_renewals bigint,
    p_watched_us bigint,
    OUT r_held boolean, OUT r_acquired boolean, OUT r_holder text, OUT r_token bigint,
    OUT r_renewals bigint, OUT r_remaining_us bigint, OUT r_ttl_us bigint, OUT r_reaped text)
LANGUAGE plpgsql AS $$
DECLARE
  v_now       timestamptz := clock_timestamp();
  v_lease_ttl interval := p_lease_ttl_us * interval '1 microsecond';
  v_lease     {{schema}}.leases%ROWTYPE;
BEGIN
  r_held := false;
  r_acquired := false;

  UPDATE {{schema}}.members
     SET role = p_role, heartbeat_at = v_now,
         expires_at = v_now + p_member_ttl_us * interval '1 microsecond'
   WHERE group_name = p_group AND id = p_id AND holder = p_holder;
  IF NOT FOUND THEN
    -- Reaped while we were paused or cut off: back in, unless a live process took the id.
    PERFORM {{schema}}.put_member(p_group, p_id, p_holder, p_host, p_pid, p_version, p_role,
                                  p_member_ttl_us, v_now);
  END IF;

  -- SKIP LOCKED: two instances reaping at once each report a row once, and neither waits.
  WITH reaped AS (
    DELETE FROM {{schema}}.members
     WHERE (group_name, id) IN (
             SELECT group_name, id FROM {{schema}}.members
              WHERE group_name = p_group AND expires_at <= v_now
                FOR UPDATE SKIP LOCKED)
    RETURNING id)
  SELECT coalesce(json_agg(id ORDER BY id), '[]'::json)::text INTO r_reaped FROM reaped;

  IF p_intent = 'renew' THEN
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
  ELSIF p_intent = 'acquire' THEN
    PERFORM 1 FROM {{schema}}.leases WHERE group_name = p_group AND name = p_name;
    IF NOT FOUND THEN
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

  SELECT * INTO v_lease FROM {{schema}}.leases WHERE group_name = p_group AND name = p_name;
  IF r_acquired THEN
    PERFORM {{schema}}.announce('acquire', p_group, p_name, p_holder, v_lease.token, 0);
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
  IF p_intent = 'observe' THEN
    r_held := r_holder = p_holder AND r_remaining_us > 0;
  END IF;
END
$$;

-- Frees the lease iff p_holder still holds it with p_token (the token is kept, so the next
-- holder's is larger), and announces it in the same transaction, so waiting instances take
-- it at once.
CREATE FUNCTION {{schema}}.release(p_group text, p_name text, p_holder text, p_token bigint)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  UPDATE {{schema}}.leases SET holder = '', renewals = 0, expires_at = clock_timestamp()
   WHERE group_name = p_group AND name = p_name AND holder = p_holder AND holder <> ''
     AND token = p_token;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM {{schema}}.announce('release', p_group, p_name, '', p_token, 0);
  RETURN true;
END
$$;

-- Deletes the member row of p_holder and announces that it left.
CREATE FUNCTION {{schema}}.unregister(p_group text, p_id text, p_holder text)
RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM {{schema}}.members WHERE group_name = p_group AND id = p_id AND holder = p_holder;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM pg_notify({{schema}}.channel(p_group), json_build_object(
      'event', 'leave', 'group', p_group, 'id', p_id)::text);
  RETURN true;
END
$$;

-- Fencing, for the active work's own transactions on this database (SPEC 2.8):
--   SELECT {{schema}}.check_token('my-group', 42);
-- raises SQLSTATE BT001 unless 42 is the live token of the group's lease (held, not
-- released, not expired by this clock), so a deposed instance cannot go on writing. On
-- success it holds FOR KEY SHARE on the lease row until the transaction ends: a takeover
-- (which changes the token, a key column) waits for it, while the holder's renewals (which
-- change only non-key columns) do not. A contender never waits: it skips the locked row.
-- SECURITY DEFINER, so the application's role needs only EXECUTE on it and USAGE on the
-- schema, not rights on the tables.
CREATE FUNCTION {{schema}}.check_token(p_group text, p_name text, p_token bigint)
RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_lease record;
BEGIN
  SELECT holder, token, expires_at INTO v_lease FROM {{schema}}.leases
   WHERE group_name = p_group AND name = p_name
     FOR KEY SHARE;
  IF NOT FOUND OR v_lease.holder = '' OR v_lease.token <> p_token
     OR v_lease.expires_at <= clock_timestamp() THEN
    RAISE EXCEPTION USING ERRCODE = 'BT001',
      MESSAGE = format('baton: token %s is not the live token of lease %s of group %s',
                       p_token, p_name, p_group),
      DETAIL = CASE WHEN NOT FOUND THEN 'The lease was never taken.'
                    WHEN v_lease.holder = '' THEN 'The lease was released.'
                    WHEN v_lease.token <> p_token
                      THEN format('The live token is %s.', v_lease.token)
                    ELSE 'The lease has expired.' END,
      HINT = 'This instance is no longer active: roll back and stop writing.';
  END IF;
END
$$;

CREATE FUNCTION {{schema}}.check_token(p_group text, p_token bigint)
RETURNS void LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
  SELECT {{schema}}.check_token(p_group, 'active', p_token);
$$;

REVOKE ALL ON FUNCTION {{schema}}.check_token(text, text, bigint) FROM PUBLIC;
REVOKE ALL ON FUNCTION {{schema}}.check_token(text, bigint) FROM PUBLIC;
