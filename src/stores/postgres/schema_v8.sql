-- baton's PostgreSQL schema, version 8: each lease's takeover log, for `baton web`. Run by
-- Migrate() after version 7, in the same transaction under the same advisory lock.
-- {{schema}} is the quoted schema name.
--
-- The last 100 acquisitions of each lease (baton::kTakeoversKept): who, with which token,
-- when (the database's clock, for people only), and why the lease was free. Triggers on leases
-- write them in the acquisition's own transaction, so every program that acquires logs it,
-- whatever its version, and none of their statements change. Only an acquisition sets the
-- token: a renewal fires nothing. The cause is told from the row before: free (released; on
-- request when a handover of that interval was asked for), the same holder, or another whose
-- lease expired. Nothing earlier changes: usable from version 1.

CREATE TABLE {{schema}}.takeovers (
  group_name text NOT NULL,
  name       text NOT NULL,
  token      bigint NOT NULL,
  holder     text NOT NULL,
  cause      text NOT NULL,
  taken_at   timestamptz NOT NULL,
  PRIMARY KEY (group_name, name, token)
);

-- SECURITY DEFINER, like check_token: a role that may only call the schema's functions
-- acquires, and so logs, without rights on this table.
CREATE FUNCTION {{schema}}.log_takeover() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_cause text := 'first';
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.holder = '' THEN
      v_cause := CASE WHEN EXISTS (
                          SELECT 1 FROM {{schema}}.handovers h
                           WHERE h.group_name = NEW.group_name AND h.name = NEW.name
                             AND h.token = OLD.token)
                      THEN 'handover' ELSE 'released' END;
    ELSIF OLD.holder = NEW.holder THEN
      v_cause := 'reacquired';
    ELSE
      v_cause := 'expired';
    END IF;
  END IF;
  INSERT INTO {{schema}}.takeovers (group_name, name, token, holder, cause, taken_at)
  VALUES (NEW.group_name, NEW.name, NEW.token, NEW.holder, v_cause, clock_timestamp())
  ON CONFLICT DO NOTHING;
  DELETE FROM {{schema}}.takeovers
   WHERE group_name = NEW.group_name AND name = NEW.name AND token <= NEW.token - 100;
  RETURN NULL;
END
$$;

CREATE TRIGGER takeovers_first AFTER INSERT ON {{schema}}.leases
FOR EACH ROW WHEN (NEW.holder <> '') EXECUTE FUNCTION {{schema}}.log_takeover();
CREATE TRIGGER takeovers_next AFTER UPDATE OF token ON {{schema}}.leases
FOR EACH ROW WHEN (NEW.token <> OLD.token AND NEW.holder <> '')
EXECUTE FUNCTION {{schema}}.log_takeover();
