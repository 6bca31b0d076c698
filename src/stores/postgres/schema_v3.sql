-- baton's PostgreSQL schema, version 3: the time of each queue's last scheduler round (SPEC
-- 3.1), beside version 2's tables, which it does not change (so it stays usable by version 1
-- and 2 programs). Run by Migrate() after version 2, in the same transaction under the same
-- advisory lock. {{schema}} is the quoted schema name; every other value is a bound
-- parameter at call time.
--
-- Times are the database's clock_timestamp(), as for leases and items.

CREATE TABLE {{schema}}.queue_rounds (
  group_name text        NOT NULL,
  queue      text        NOT NULL,
  last_at    timestamptz NOT NULL,
  token      bigint      NOT NULL,  -- the scheduler lease's token that recorded it
  rounds     bigint      NOT NULL DEFAULT 0,
  PRIMARY KEY (group_name, queue)
);

-- Starts a round of a queue if one is due, fenced like offer(): only while lease
-- p_fence_lease of the group is held with p_fence_token (FOR KEY SHARE, so a takeover waits
-- for this transaction); otherwise r_fenced and nothing is read or written. Due: no round
-- yet, or the last one at least p_every_us ago; then now becomes the last round and
-- r_started. A last round in the future is a step of the database's clock: now becomes the
-- last round, not started, and r_wait_us is a whole p_every_us. r_since_us: now minus the
-- last round before the call (NULL: none).
CREATE FUNCTION {{schema}}.start_round(
    p_group text, p_queue text, p_fence_lease text, p_fence_token bigint, p_every_us bigint,
    OUT r_fenced boolean, OUT r_started boolean, OUT r_since_us bigint, OUT r_wait_us bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_now  timestamptz := clock_timestamp();
  v_last timestamptz;
BEGIN
  r_fenced := false;
  r_started := false;
  r_wait_us := 0;
  PERFORM 1 FROM {{schema}}.leases
   WHERE group_name = p_group AND name = p_fence_lease AND holder <> ''
     AND token = p_fence_token AND expires_at > v_now
     FOR KEY SHARE;
  IF NOT FOUND THEN
    r_fenced := true;
    RETURN;
  END IF;
  SELECT last_at INTO v_last FROM {{schema}}.queue_rounds
   WHERE group_name = p_group AND queue = p_queue FOR UPDATE;
  IF FOUND THEN
    r_since_us := floor(extract(epoch FROM v_now - v_last) * 1000000)::bigint;
    IF r_since_us >= 0 AND r_since_us < p_every_us THEN
      r_wait_us := p_every_us - r_since_us;
      RETURN;
    END IF;
  END IF;
  r_started := r_since_us IS NULL OR r_since_us >= 0;
  IF NOT r_started THEN
    r_wait_us := p_every_us;
  END IF;
  INSERT INTO {{schema}}.queue_rounds (group_name, queue, last_at, token, rounds)
  VALUES (p_group, p_queue, v_now, p_fence_token, CASE WHEN r_started THEN 1 ELSE 0 END)
  ON CONFLICT (group_name, queue) DO UPDATE
    SET last_at = excluded.last_at, token = excluded.token,
        rounds = {{schema}}.queue_rounds.rounds + excluded.rounds;
END
$$;
