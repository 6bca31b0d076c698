#!/usr/bin/env node
// graphile-worker as the peer of baton's queue throughput benchmark (SPEC 3: baton must be
// ahead of graphile-worker's default mode and aims at twice its batched localQueue mode, on the
// same PostgreSQL in the same run).
//
//   node bench.js --url URL [--jobs 20000] [--tenants 1000]
//                 [--configs default:4,default:24,localQueue:24] [--queue-names] [--repeat 1]
//
// For each configuration: a schema of its own (so runs never see each other's jobs), the jobs
// added first with addJobs in batches of 1000 (not timed), each carrying its tenant key
// ("tenant-<i mod tenants>", as baton's run) and its number in the payload; then `run()` with a
// no-op task, timed from the call until the database holds no job any more (every completion
// committed). The account is checked: the task saw every job exactly once, no job failed, none
// is left. Prints one JSON line per run on stdout (for baton-queue-table), progress on stderr.
//
// Modes:
//   default:C     concurrency C, graphile-worker's defaults otherwise (no local queue, no
//                 completion batching); maxPoolSize max(10, C + 2), as its docs advise.
//   localQueue:C  batched, as graphile-worker's own performance page runs it: localQueue
//                 size 500, completeJobBatchDelay 0, failJobBatchDelay 0, maxPoolSize C + 1.
// --queue-names puts each job in the named queue of its tenant (queueName = tenant), which is
// graphile-worker's one-at-a-time-per-key; it is not used with localQueue, which breaks it
// (graphile/worker#621).
"use strict";

const os = require("os");
const { EventEmitter } = require("events");
const { performance } = require("perf_hooks");
const { run, makeWorkerUtils, Logger } = require("graphile-worker");
const { Pool } = require("pg");
const version = require("./node_modules/graphile-worker/package.json").version;

function parseArgs(argv) {
  const args = {
    url: "",
    jobs: 20000,
    tenants: 1000,
    configs: "default:4,default:24,localQueue:24",
    queueNames: false,
    repeat: 1,
  };
  for (let i = 2; i < argv.length; ++i) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--url") args.url = next();
    else if (a === "--jobs") args.jobs = Number(next());
    else if (a === "--tenants") args.tenants = Number(next());
    else if (a === "--configs") args.configs = next();
    else if (a === "--queue-names") args.queueNames = true;
    else if (a === "--repeat") args.repeat = Number(next());
    else if (a === "--help" || a === "-h") usage("", 0);
    else usage(`unknown option ${a}`);
  }
  if (!args.url) usage("--url is required");
  for (const n of [args.jobs, args.tenants, args.repeat]) {
    if (!Number.isInteger(n) || n < 1) usage("--jobs, --tenants and --repeat take whole numbers >= 1");
  }
  args.configs = args.configs.split(",").map((c) => {
    const [mode, concurrency] = c.split(":");
    if (!["default", "localQueue"].includes(mode) || !(Number(concurrency) >= 1)) {
      usage(`bad configuration ${c}: give default:N or localQueue:N`);
    }
    return { mode, concurrency: Number(concurrency) };
  });
  return args;
}

function usage(message, code = 2) {
  if (message) console.error(`bench.js: ${message}`);
  console.error(
    "usage: node bench.js --url URL [--jobs 20000] [--tenants 1000] " +
      "[--configs default:4,default:24,localQueue:24] [--queue-names] [--repeat 1]",
  );
  process.exit(code);
}

// Only warnings and errors: a line per job would be the benchmark's own bottleneck.
const quietLogger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") console.error(`graphile-worker ${level}: ${message}`);
});

function workerOptions(config) {
  if (config.mode === "localQueue") {
    return {
      maxPoolSize: config.concurrency + 1,
      preset: {
        worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 },
      },
      localQueue: 500,
      completeJobBatchDelay: 0,
    };
  }
  return { maxPoolSize: Math.max(10, config.concurrency + 2), preset: {}, localQueue: -1, completeJobBatchDelay: -1 };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function measure(args, config, runIndex, pool) {
  const schema = `gw_bench_${process.pid}_${config.mode.toLowerCase()}_${config.concurrency}_${runIndex}`;
  const problems = [];
  const utils = await makeWorkerUtils({ connectionString: args.url, schema, logger: quietLogger });
  try {
    await utils.migrate();
    for (let first = 0; first < args.jobs; first += 1000) {
      const specs = [];
      for (let i = first; i < Math.min(args.jobs, first + 1000); ++i) {
        const tenant = `tenant-${i % args.tenants}`;
        const spec = { identifier: "noop", payload: { tenant, i } };
        if (args.queueNames) spec.queueName = tenant;
        specs.push(spec);
      }
      await utils.addJobs(specs);
    }
  } finally {
    await utils.release();
  }
  const jobsLeft = async () =>
    (await pool.query(`select count(*)::int as n from "${schema}"._private_jobs`)).rows[0].n;
  if ((await jobsLeft()) !== args.jobs) problems.push("not every job was added");

  const seen = new Uint32Array(args.jobs);
  let calls = 0;
  let failed = 0;
  let localQueues = 0;
  const events = new EventEmitter();
  events.on("job:failed", () => ++failed);
  events.on("localQueue:init", () => ++localQueues);
  const options = workerOptions(config);
  const start = performance.now();
  const runner = await run({
    connectionString: args.url,
    schema,
    concurrency: config.concurrency,
    maxPoolSize: options.maxPoolSize,
    noHandleSignals: true,
    logger: quietLogger,
    events,
    preset: options.preset,
    taskList: {
      noop: async (payload) => {
        ++calls;
        if (Number.isInteger(payload.i) && payload.i >= 0 && payload.i < args.jobs) ++seen[payload.i];
      },
    },
  });
  // The task's own count says when to start asking the database, which then says when every
  // completion has been committed.
  let end = 0;
  let lastCalls = 0;
  let lastProgress = performance.now();
  while (true) {
    await sleep(calls >= args.jobs ? 2 : 20);
    const now = performance.now();
    if (calls >= args.jobs && (await jobsLeft()) === 0) {
      end = performance.now();
      break;
    }
    if (calls !== lastCalls) {
      lastCalls = calls;
      lastProgress = now;
    }
    if (now - lastProgress > 30000) {
      problems.push(`no progress for 30 s at ${calls} of ${args.jobs} jobs`);
      break;
    }
  }
  await runner.stop();
  await runner.promise.catch((e) => problems.push(`runner: ${e.message}`));

  let missing = 0;
  let repeated = 0;
  for (const n of seen) {
    if (n === 0) ++missing;
    if (n > 1) ++repeated;
  }
  if (missing > 0) problems.push(`${missing} of ${args.jobs} jobs never ran`);
  if (repeated > 0) problems.push(`${repeated} jobs ran more than once`);
  if (calls !== args.jobs) problems.push(`the task ran ${calls} times for ${args.jobs} jobs`);
  if (failed > 0) problems.push(`${failed} jobs failed`);
  const left = await jobsLeft();
  if (left !== 0) problems.push(`${left} jobs left in the database`);
  if (config.mode === "localQueue" && localQueues === 0) problems.push("the local queue never started");
  await pool.query(`drop schema "${schema}" cascade`);

  const seconds = end > 0 ? (end - start) / 1000 : 0;
  return {
    kind: "peer",
    peer: "graphile-worker",
    version,
    node: process.version,
    mode: config.mode,
    concurrency: config.concurrency,
    local_queue: options.localQueue,
    complete_job_batch_delay: options.completeJobBatchDelay,
    max_pool_size: options.maxPoolSize,
    jobs: args.jobs,
    tenants: args.tenants,
    queue_names: args.queueNames,
    run: runIndex,
    seconds,
    jobs_per_s: seconds > 0 ? args.jobs / seconds : 0,
    ok: problems.length === 0 && end > 0,
    problems,
    load_1m: os.loadavg()[0],
  };
}

async function main() {
  const args = parseArgs(process.argv);
  const pool = new Pool({ connectionString: args.url, max: 2 });
  let broken = false;
  try {
    for (const config of args.configs) {
      if (config.mode === "localQueue" && args.queueNames) {
        console.error("bench.js: --queue-names is not run with localQueue (graphile/worker#621)");
        continue;
      }
      for (let r = 1; r <= args.repeat; ++r) {
        console.error(
          `bench.js: graphile-worker ${version} ${config.mode}, concurrency ${config.concurrency}, ` +
            `${args.jobs} jobs${args.queueNames ? `, a named queue per tenant (${args.tenants})` : ""}, run ${r}`,
        );
        const result = await measure(args, config, r, pool);
        broken = broken || !result.ok;
        console.log(JSON.stringify(result));
      }
    }
  } finally {
    await pool.end();
  }
  process.exit(broken ? 1 : 0);
}

main().catch((e) => {
  console.error(`bench.js: ${e.stack || e}`);
  process.exit(1);
});
