-- baton's PostgreSQL schema, version 5: handovers (`baton step-down [--to ID]`, and a passive
-- instance of higher `--priority` than the holder asking for the role back). Run by Migrate()
-- after version 4, in the same transaction under the same advisory lock. {{schema}} is the
-- quoted schema name.
--
-- A handover is a request to the holder of one interval (its token): the holder learns of it
-- from its next renewal, which this version's heartbeat() returns it with, and is woken at
-- once by a NOTIFY on the group's channel, so it need not wait for that renewal's turn. It
-- then stops its work and releases as it would on SIGTERM. A request naming a member reserves
-- the released lease for it until reserved_until; if it has not taken the lease by then, any
-- instance may. A request of an older token is spent: the table keeps one row per lease.
--
-- Programs of versions 1 to 4 call the sixteen-argument heartbeat(), which now calls the
-- seventeen-argument one, so they honour a reservation too; they never see a request, and
-- their member rows keep priority 0.

ALTER TABLE {{schema}}.members ADD COLUMN IF NOT EXISTS priority bigint NOT NULL DEFAULT 0;

CREATE TABLE IF NOT EXISTS {{schema}}.handovers (
  group_name     text        NOT NULL,
  name           text        NOT NULL,
  token          bigint      NOT NULL,  -- the interval asked to hand over
  to_id          text        NOT NULL,  -- '' : any other member
  reserved_until timestamptz NOT NULL,  -- until when to_id alone may acquire
  requested_at   timestamptz NOT NULL,  -- for people only
  PRIMARY KEY (group_name, name)
);

-- Version 1's heartbeat keeps its body under another name; heartbeat() with its sixteen
-- arguments becomes a wrapper of the new one, below. Like every step, this one may run again
-- over its own result (a test rebuilds an older schema by dropping a later step's objects).
DO $$
BEGIN
  IF to_regprocedure(quote_ident({{schema_literal}}) || '.heartbeat_v1(text, text, text, text, '
                     'text, bigint, text, text, bigint, text, bigint, bigint, text, bigint, '
                     'bigint, bigint)') IS NULL THEN
    ALTER FUNCTION {{schema}}.heartbeat(text, text, text, text, text, bigint, text, text, bigint,
                                        text, bigint, bigint, text, bigint, bigint, bigint)
      RENAME TO heartbeat_v1;
  END IF;
END
$$;

-- Writes the member row with its priority (see the nine-argument put_member of version 1).
CREATE OR REPLACE FUNCTION {{schema}}.put_member(
    p_group text, p_id text, p_holder text, p_host text, p_pid bigint, p_version text,
    p_role text, p_ttl_us bigint, p_now timestamptz, p_priority bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM {{schema}}.put_member(p_group, p_id, p_holder, p_host, p_pid, p_version, p_role,
                                p_ttl_us, p_now);
  UPDATE {{schema}}.members SET priority = p_priority
   WHERE group_name = p_group AND id = p_id AND holder = p_holder AND priority <> p_priority;
END
$$;

-- The sixteen-argument heartbeat of version 1, plus: an acquisition is turned into an
-- observation while the lease's released interval is reserved for another member; a renewal
-- that held returns the handover asked of its interval in r_handover_to ('' for any other
-- member, NULL when none); and a member row re-inserted after a reap keeps p_priority.
--
-- The reservation is checked just before the acquisition, not under a lock shared with
-- request_handover(): a request is only ever made of a live holder, whose lease no acquisition
-- can take, so the two meet only in the instant a lease expires. Then the contender that
-- missed the request takes the lease as if none had come, which no safety rule forbids: a
-- reservation chooses who is next, it never lets two be active.
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
  v_intent text := p_intent;
BEGIN
  IF p_intent = 'acquire' AND EXISTS (
      SELECT 1 FROM {{schema}}.handovers h
        JOIN {{schema}}.leases l USING (group_name, name)
       WHERE h.group_name = p_group AND h.name = p_name AND h.token = l.token
         AND h.to_id NOT IN ('', p_id) AND h.reserved_until > clock_timestamp()) THEN
    v_intent := 'observe';
  END IF;
  SELECT b.r_held, b.r_acquired, b.r_holder, b.r_token, b.r_renewals, b.r_remaining_us,
         b.r_ttl_us, b.r_reaped
    INTO r_held, r_acquired, r_holder, r_token, r_renewals, r_remaining_us, r_ttl_us, r_reaped
    FROM {{schema}}.heartbeat_v1(p_group, p_name, p_id, p_holder, p_host, p_pid, p_version,
                                 p_role, p_member_ttl_us, v_intent, p_lease_ttl_us, p_token,
                                 p_watched_holder, p_watched_token, p_watched_renewals,
                                 p_watched_us) AS b;
  IF p_priority <> 0 THEN
    UPDATE {{schema}}.members SET priority = p_priority
     WHERE group_name = p_group AND id = p_id AND holder = p_holder AND priority <> p_priority;
  END IF;
  IF p_intent = 'renew' AND r_held THEN
    SELECT to_id INTO r_handover_to FROM {{schema}}.handovers
     WHERE group_name = p_group AND name = p_name AND token = p_token;
  END IF;
END
$$;

-- The heartbeat of programs of versions 1 to 4: the one above, for a member of priority 0.
CREATE OR REPLACE FUNCTION {{schema}}.heartbeat(
    p_group text, p_name text, p_id text, p_holder text, p_host text, p_pid bigint,
    p_version text, p_role text, p_member_ttl_us bigint, p_intent text, p_lease_ttl_us bigint,
    p_token bigint, p_watched_holder text, p_watched_token bigint, p_watched_renewals bigint,
    p_watched_us bigint,
    OUT r_held boolean, OUT r_acquired boolean, OUT r_holder text, OUT r_token bigint,
    OUT r_renewals bigint, OUT r_remaining_us bigint, OUT r_ttl_us bigint, OUT r_reaped text)
LANGUAGE sql AS $$
  SELECT r_held, r_acquired, r_holder, r_token, r_renewals, r_remaining_us, r_ttl_us, r_reaped
    FROM {{schema}}.heartbeat(p_group, p_name, p_id, p_holder, p_host, p_pid, p_version, p_role,
                              p_member_ttl_us, p_intent, p_lease_ttl_us, p_token,
                              p_watched_holder, p_watched_token, p_watched_renewals,
                              p_watched_us, 0::bigint);
$$;

-- Asks the holder of lease p_name of p_group to hand it over (`baton step-down`): to p_to
-- alone ('' : any other member), and only if the holder's member priority is below
-- p_priority_below (NULL: whatever it is). r_outcome is 'requested', or why not:
-- 'no_holder' (free or expired), 'unknown_target' (p_to is not a live member other than the
-- holder), 'no_other_member', 'not_lower'. The reservation of p_to lasts twice the lease's
-- remaining time: about two ttl from a renewal. The holder is woken by a NOTIFY.
CREATE OR REPLACE FUNCTION {{schema}}.request_handover(
    p_group text, p_name text, p_to text, p_priority_below bigint,
    OUT r_outcome text, OUT r_holder text, OUT r_token bigint, OUT r_renewals bigint,
    OUT r_remaining_us bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_now        timestamptz := clock_timestamp();
  v_lease      {{schema}}.leases%ROWTYPE;
  v_priority   bigint;
BEGIN
  r_holder := '';
  r_token := 0;
  r_renewals := 0;
  r_remaining_us := 0;
  SELECT * INTO v_lease FROM {{schema}}.leases WHERE group_name = p_group AND name = p_name;
  IF FOUND THEN
    r_token := v_lease.token;
  END IF;
  IF NOT FOUND OR v_lease.holder = '' OR v_lease.expires_at <= v_now THEN
    r_outcome := 'no_holder';
    RETURN;
  END IF;
  r_holder := v_lease.holder;
  r_renewals := v_lease.renewals;
  r_remaining_us := floor(extract(epoch FROM v_lease.expires_at - v_now) * 1000000)::bigint;
  IF p_to <> '' AND NOT EXISTS (
      SELECT 1 FROM {{schema}}.members
       WHERE group_name = p_group AND id = p_to AND holder <> v_lease.holder
         AND expires_at > v_now) THEN
    r_outcome := 'unknown_target';
    RETURN;
  END IF;
  IF NOT EXISTS (
      SELECT 1 FROM {{schema}}.members
       WHERE group_name = p_group AND holder <> v_lease.holder AND expires_at > v_now) THEN
    r_outcome := 'no_other_member';
    RETURN;
  END IF;
  IF p_priority_below IS NOT NULL THEN
    SELECT priority INTO v_priority FROM {{schema}}.members
     WHERE group_name = p_group AND holder = v_lease.holder;
    IF coalesce(v_priority, 0) >= p_priority_below THEN
      r_outcome := 'not_lower';
      RETURN;
    END IF;
  END IF;
  INSERT INTO {{schema}}.handovers AS h
      (group_name, name, token, to_id, reserved_until, requested_at)
  VALUES (p_group, p_name, v_lease.token, p_to, v_now + 2 * (v_lease.expires_at - v_now), v_now)
  ON CONFLICT (group_name, name) DO UPDATE
    SET token = excluded.token, to_id = excluded.to_id,
        reserved_until = excluded.reserved_until, requested_at = excluded.requested_at;
  PERFORM pg_notify({{schema}}.channel(p_group), json_build_object(
      'event', 'handover', 'group', p_group, 'lease', p_name, 'holder', v_lease.holder,
      'token', v_lease.token, 'to', p_to)::text);
  r_outcome := 'requested';
END
$$;
