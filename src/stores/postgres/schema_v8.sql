-- baton's PostgreSQL schema, version 8, for `baton web`: each lease's takeover log, and each
-- queue's finished items per minute. Run by Migrate() after version 7, in the same transaction
-- under the same advisory lock. {{schema}} is the quoted schema name.
--
-- The last 100 acquisitions of each lease (baton::kTakeoversKept): who, with which token,
-- when (the database's clock, for people only), and why the lease was free. Triggers on leases
-- write them in the acquisition's own transaction, so every program that acquires logs it,
-- whatever its version, and none of their statements change. Only an acquisition sets the
-- token: a renewal fires nothing. The cause is told from the row before: free (released; on
-- request when a handover of that interval was asked for), the same holder, or another whose
-- lease expired. Nothing earlier changes: usable from version 1. Like the steps before it,
-- this one can run again over itself.

CREATE TABLE IF NOT EXISTS {{schema}}.takeovers (
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
CREATE OR REPLACE FUNCTION {{schema}}.log_takeover() RETURNS trigger
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

CREATE OR REPLACE TRIGGER takeovers_first AFTER INSERT ON {{schema}}.leases
FOR EACH ROW WHEN (NEW.holder <> '') EXECUTE FUNCTION {{schema}}.log_takeover();
CREATE OR REPLACE TRIGGER takeovers_next AFTER UPDATE OF token ON {{schema}}.leases
FOR EACH ROW WHEN (NEW.token <> OLD.token AND NEW.holder <> '')
EXECUTE FUNCTION {{schema}}.log_takeover();

-- Each queue's finished items per minute (the last 60, baton::kMinutesKept), counted by a
-- trigger on the tenants' totals, which every finish already updates. One row per queue,
-- minute and server backend: a worker process's queue connections are its own, so two
-- workers never write the same row, and counting makes no worker wait for another, as one row
-- per queue and minute would. The first count of a backend in a minute
-- also drops the queue's rows that have aged out.
CREATE TABLE IF NOT EXISTS {{schema}}.queue_minutes (
  group_name text        NOT NULL,
  queue      text        NOT NULL,
  minute     timestamptz NOT NULL,
  backend    integer     NOT NULL,
  done       bigint      NOT NULL,
  failed     bigint      NOT NULL,
  dead       bigint      NOT NULL,
  PRIMARY KEY (group_name, queue, minute, backend)
);

CREATE OR REPLACE FUNCTION {{schema}}.count_finished() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
  v_minute   timestamptz := date_trunc('minute', clock_timestamp());
  v_inserted boolean;
BEGIN
  INSERT INTO {{schema}}.queue_minutes AS m
      (group_name, queue, minute, backend, done, failed, dead)
  VALUES (NEW.group_name, NEW.queue, v_minute, pg_backend_pid(), NEW.done - OLD.done,
          NEW.failed - OLD.failed, NEW.dead - OLD.dead)
  ON CONFLICT (group_name, queue, minute, backend) DO UPDATE
     SET done = m.done + excluded.done, failed = m.failed + excluded.failed,
         dead = m.dead + excluded.dead
  RETURNING xmax = 0 INTO v_inserted;
  IF v_inserted THEN
    DELETE FROM {{schema}}.queue_minutes
     WHERE group_name = NEW.group_name AND queue = NEW.queue
       AND minute <= v_minute - interval '60 minutes';
  END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER queue_minutes_count AFTER UPDATE OF done, failed, dead ON {{schema}}.queue_tenants
FOR EACH ROW WHEN (NEW.done <> OLD.done OR NEW.failed <> OLD.failed OR NEW.dead <> OLD.dead)
EXECUTE FUNCTION {{schema}}.count_finished();
