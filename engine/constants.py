"""Tunables, each in one place with the reason for its value."""

#: Default embedded database: a SQLite file under ./var, so `make run` needs no server.
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/policy-push.sqlite3"

#: Largest request body the webhook accepts. Bulk pushes of a few thousand events fit well under it.
MAX_BODY_BYTES = 1024 * 1024

#: A request body must arrive within this long, or the request is refused with 408: a 1 MiB body takes
#: well under a second on any working link, and a client trickling bytes must not hold a connection
#: (and a handler) open without end (1,000 slow uploads were once held past 130 s).
BODY_READ_TIMEOUT_SECONDS = 30.0

#: A connection must deliver a request's headers within this long of opening (or of the last answer on
#: a kept-alive connection), or it is closed: aiohttp's keep-alive timer, which also closes idle
#: connections. Shorter than aiohttp's 75 s default: clients here are servers and browsers on fast links.
HEADER_READ_TIMEOUT_SECONDS = 15.0

#: Highest ?page= a list accepts; deeper pages are refused (400) before the database sees an offset its
#: integers cannot hold. 10^6 pages of 50 rows is far beyond any list this service keeps.
MAX_PAGE = 1_000_000

#: Pending decisions per page of the console's 待审批 list. Loading them all made a 2,683-item queue a
#: 1.3 MB page that took about 5 s; 50 rows fit a screen or two, and "all matching" acts beyond the page.
APPROVALS_PAGE_SIZE = 50

#: Decisions approved or rejected per transaction when an operator acts on all pending decisions matching
#: a filter: each batch locks its rows, audits them and creates their notices in one transaction, so
#: thousands at once would hold locks (and the SQLite writer) for long and pass SQLite's bound-parameter
#: limit; a failure part-way leaves earlier batches done and the rest pending, both visible on the list.
APPROVAL_BATCH = 500

#: The console's audit page verifies the chain from its latest checkpoint (an `audit.checkpoint` entry,
#: engine.console.audit_view) and records a new one once this many entries past it verified intact: the
#: page then checks at most about this many entries, however long the chain grows (the CLI checks all).
AUDIT_CHECKPOINT_EVERY = 1000

#: Largest id a path or form may name: the id columns are SQL INTEGER (32 bits on PostgreSQL). A larger
#: number names no row (404), and the database would refuse to compare it (500).
MAX_ID = 2**31 - 1

#: Largest batch (JSON array) one webhook delivery may carry; larger ones must be split by the sender.
MAX_BATCH_ITEMS = 1000

#: Standard Webhooks tolerance for `webhook-timestamp`; fixed by the reference library at ±5 minutes.
WEBHOOK_TOLERANCE_SECONDS = 5 * 60

#: Most events one group commit of received events holds (connectors.sql_group_commit): deliveries
#: that arrive while a commit is in flight share the next transaction and its one disk flush. A
#: delivery's events are never split, so a group may exceed this by one batch (MAX_BATCH_ITEMS).
#: Large enough that a group rarely ends early at the loads measured (1,000 events/s commit ~10–50
#: per group), small enough that one transaction's insert stays well under a megabyte of rows.
INTAKE_GROUP_MAX_EVENTS = 500

#: PostgreSQL connections kept for committing received events, apart from the pool the pipeline, the
#: console and the workers share: acknowledgements never wait for a connection a long fold holds.
#: Group commit runs one transaction at a time, so one connection is used; the second stands by
#: while the first is replaced after a network fault.
INTAKE_POOL_SIZE = 2

#: Webhook deliveries the service works on at once (read, verified, validated or waiting for their
#: commit). One more is refused at once with 503 and Retry-After, storing nothing, instead of
#: queueing until the sender times out and perhaps storing what it will deliver again. At 1,000
#: events/s and the 50 ms target latency about 50 are in flight (Little's law); four times that
#: absorbs bursts, and a sender waiting behind 200 others would wait well past any useful answer.
INTAKE_MAX_IN_FLIGHT = 200

#: A delivery that has been in hand this long and is not yet being stored is refused (503, nothing
#: stored) instead: its sender may be about to give up (the benchmark's 10 s timeout; Standard
#: Webhooks senders use 15–30 s), and an event stored after that is stored but unacknowledged. The
#: in-flight bound alone did not prevent it: on a machine that gave the service a quarter of a core,
#: the 200 admitted deliveries of one run all waited past 10 s and were stored unacknowledged.
INTAKE_DEADLINE_SECONDS = 5.0

#: Seconds a sender is told to wait (Retry-After) when a delivery was refused for load.
INTAKE_RETRY_AFTER_SECONDS = 1

#: Most events the pipeline folds per transaction (a group): the statements, thread hops and commit
#: around a fold cost far more than its own work, and a group pays them once. bench/fold.py on SQLite
#: (docs/performance.md): 1 → 116 events/s, 8 → 454, 16 → 530, 32 → 621, 64 → 555. Larger groups
#: hold the writer (SQLite) and their firms' row locks (PostgreSQL) longer, and a group the database
#: refuses is folded again one event at a time. 64 since the backlog of a 1,000 events/s load drains
#: faster in one process (`bench/sustained.py --database sqlite --rates 1000 --fold-workers 0`, with
#: PIPELINE_SHARE_UNDER_LOAD at 0.5, runs of each: 32 → 14.0–14.1k drained in 11.2–13.8 s, 64 → 13.3–13.5k
#: in 8.7–9.7 s; p99 43–45 and 41–45 ms).
PIPELINE_GROUP_SIZE = 64

#: A group that has folded for this long ends early while received events wait for the SQLite
#: writer, so acknowledgements are not held up behind a long group. Folding and acknowledging share
#: one process: more here folds more during a webhook load and answers it later. Measured at 500
#: events/s (docs/performance.md, *Folding*): 0 → ack p50 18–32 ms, backlog after 20 s 8.2–8.9k;
#: 2 ms → 33–35 ms, 6.4–6.8k; 5 ms → 42–46 ms, 1.3–3.8k; before groups 23–32 ms, 8.6–9.0k. At 1,000
#: events/s, once garbage collection no longer stopped the service (engine.telemetry.collector), groups
#: cut at 2 ms held two or three events, whose claims, reads and commits cost more than their folds
#: (PIPELINE_SHARE_UNDER_LOAD 0.5, groups of 32, p99 / backlog after 20 s / drained in): 2 ms → 28.5 ms,
#: 16.6k, 14.8 s; 6 ms → 38–45 ms, 12.6–14.1k, 8.6–13.8 s (six runs); 8 ms → 53–57 ms, 13.3–13.5k;
#: 10 ms → 50.6 ms, 11.6k, 9.2 s.
PIPELINE_GROUP_YIELD_SECONDS = 0.006

#: While events are arriving, the pipeline's folds may take at most this share of the time: after
#: each group it rests for (1 − share) / share of the time the group took (from its claim to its
#: commit: counting its folds alone let it take about 60% in a closed-loop load), so the webhook's handlers,
#: which share the process and its one event loop, always get the rest and folding can never starve
#: acknowledgement. With no events arriving it folds flat out. bench/sustained.py at 1,000 events/s
#: on a busy machine (docs/performance.md, *Ingestion under sustained load*): 0.5 → 541 (SQLite) and
#: 126 (PostgreSQL) acknowledged per s; 0.25 → 736 and 491. Resting only while handlers had work
#: (ending the rest at the first quiet loop turns) acknowledged 176 and 336: folds resumed between a
#: handler's steps. A larger backlog is the price; it is folded at full speed once the load stops.
#: Two targets pull it apart on SQLite once the service no longer stops for garbage collection
#: (engine.telemetry.collector; groups of 64 cut at 6 ms, one run each unless said): at 0.5 the backlog
#: of 20 s at 1,000 events/s drained in 8.7–9.7 s (three runs, p99 41–45 ms) but a closed-loop load
#: (bench/ingest.py) acknowledged 0.43× the bare handler; at 0.35 11.7 s and 0.53×; at 0.25 11.8 s
#: (p99 40.5 ms) and 0.56×. Kept at 0.25: the closed-loop target is met and the drain is not, by 2 s.
#: A fold worker (`policy-push worker --fold`) never rests: no webhook in its process stores events.
PIPELINE_SHARE_UNDER_LOAD = 0.25

#: Events count as arriving (PIPELINE_SHARE_UNDER_LOAD and PIPELINE_GATHER_SECONDS apply) for this
#: long after one was stored.
PIPELINE_LOAD_WINDOW_SECONDS = 0.5

#: While events are arriving, a woken pipeline waits this long before it claims, so a group gathers
#: (50 events at 1,000/s). Woken per stored event, it claimed them one or two at a time: a profile
#: of the service at ~110 acknowledged/s showed 14,491 claims for 3,000 events, each a write
#: transaction on SQLite's single writer, and as many wake-ups of the delivery worker. A lone event
#: is not delayed: with nothing arriving before it, it is claimed at once.
PIPELINE_GATHER_SECONDS = 0.05

#: How often the pipeline looks for events committed by other processes (it is woken at once for its own).
PIPELINE_POLL_SECONDS = 1.0

#: How often a fold worker (`policy-push worker --fold`) looks for received events: no webhook in its
#: process wakes it. Polling every 1.0 s it met a second's events in one burst and folded them flat
#: out, taking the acknowledging process's CPU in spikes (`bench/sustained.py --fold-workers 1`,
#: PostgreSQL, 1,000 events/s: acknowledgement p99 46.1 and 53.2 ms); every 0.2 s, 21.6 ms (and 25.0 ms
#: every 0.05 s). An empty poll is one indexed query.
FOLD_WORKER_POLL_SECONDS = 0.2

#: Most events a fold worker folds per transaction (PIPELINE_GROUP_SIZE is the same now): on PostgreSQL
#: a group's round trips, not its folds, set the pace. `bench/sustained.py --database postgres --rates 1000
#: --fold-workers 1`, two runs each, alternated: 32 → backlog 3,984 and 3,564 after the load, drained in 5.1 and 4.6 s,
#: p99 17.4 and 17.7 ms; 64 → backlog 1 and 2, drained at once, p99 17.1 and 16.1 ms. (`bench/fold.py
#: --database postgres`, a backlog of 2,000 in one process: 32 → 666/s, 64 → 757/s, 128 → 781/s.)
FOLD_WORKER_GROUP_SIZE = 64

#: Back-off after a database error in the pipeline before it tries the same event again.
PIPELINE_RETRY_SECONDS = 2.0

#: On shutdown the pipeline may finish the event in hand for this long before it is cancelled.
SHUTDOWN_GRACE_SECONDS = 10.0

#: How often a running service checks its SQLite file for damaged pages (PRAGMA quick_check) for
#: /readyz and the webhook. quick_check reads every page: about a second per few hundred MB on a
#: local disk, so every 5 minutes costs well under 1% of the disk's time while bounding how long
#: a damaged file goes unnoticed (and keeps acknowledging events) to 5 minutes.
DATABASE_CHECK_SECONDS = 300.0

#: SQLite waits this long for a lock held by another process (e.g. the CLI) before failing.
SQLITE_BUSY_TIMEOUT_MS = 10_000
#: Page cache of SQLite's one writer connection, in KiB (SQLite's default is 2,000 KiB). A first backfill
#: inserts millions of rows into indexes keyed at random (notice ids, firm + clause); with the default
#: cache most of those inserts read their index page back from the OS. Readers keep the default.
SQLITE_WRITER_CACHE_KIB = 65_536

#: Bytes of entropy in an API token; 32 bytes makes guessing infeasible, so a plain SHA-256 hash suffices.
TOKEN_BYTES = 32

#: A token's last use is written at most this often (not on every request): enough to tell a token in use
#: from a forgotten one, without a write per API call.
TOKEN_TOUCH_SECONDS = 60

#: Prefix that makes leaked tokens easy to recognise in logs and secret scanners.
TOKEN_PREFIX = "pp_"

#: Console passwords hashed at once (argon2id: 64 MiB and ~0.2 s each). More only adds memory (a burst of
#: 40 logins took the process from 420 to 804 MiB) and cannot answer faster than the cores allow; the
#: rest wait their turn, and attempts over the throttle's limits are refused before they would hash.
LOGIN_HASH_CONCURRENCY = 2

#: Roles a token may carry, least privileged first.
ROLES = ("viewer", "operator", "admin")

#: Notices a delivery worker claims per round.
NOTICE_BATCH_SIZE = 50

#: SMTP sessions a delivery worker keeps to the relay (POLICY_PUSH_SMTP_SESSIONS): a claimed batch of emails goes
#: out over them side by side, each message built while others wait for the relay. 4 keep one core busy on a
#: local relay (bench/deliver_worker.py); relays commonly allow 5–10 per client before refusing (421).
SMTP_SESSIONS = 4

#: SMS a delivery worker hands to the provider at once, each claimed only once the rate limit let it through:
#: enough that a provider answering in ~0.4 s still fills a 10/s limit. A worker killed mid-send leaves at
#: most this many SMS unsettled (dead, never re-sent blind).
SMS_SENDS_AT_ONCE = 4

#: How long a claimed notice stays the worker's before another may treat it as interrupted.
NOTICE_LEASE_SECONDS = 300

#: How often the delivery worker looks for due notices when it was not woken.
NOTICE_POLL_SECONDS = 1.0

#: Back-off after a transient failure: 30 s, 1 min, 2 min … capped at 1 h, jittered (half to full).
NOTICE_BACKOFF_BASE_SECONDS = 30.0
NOTICE_BACKOFF_CAP_SECONDS = 3600.0

#: Attempts before a notice that keeps failing transiently is declared dead (an operator may requeue it).
NOTICE_MAX_ATTEMPTS = 8

#: Days after a benefit's window closed that its notices are still pushed when first recorded; beyond that
#: they are held for an operator (a bulk import of old events must not announce long-gone benefits as
#: current). A quarter: a late data feed of the last quarter still reaches firms.
NOTICE_STALE_AFTER_DAYS = 90
#: A firm's new notices on a channel wait this many minutes for more before going out as one message (a
#: digest; POLICY_PUSH_DIGEST_QUIET_MINUTES, `off` for at once): a backfill or a burst of events about one
#: firm ends well within it, so the firm gets one SMS and one email, not one per clause.
DIGEST_QUIET_MINUTES = 10
#: ...but no longer than this many hours after the first of them (POLICY_PUSH_DIGEST_LONGEST_HOURS): a firm
#: whose data keep changing still hears within a day.
DIGEST_LONGEST_HOURS = 24
#: How long a link to a firm's own page (我的政策) stays valid, in days (POLICY_PUSH_FIRM_LINK_DAYS): a month covers
#: the time from a notice to a firm answering it; later notices bring fresh links.
FIRM_LINK_DAYS = 30

#: Longest a single send may take before it counts as unanswered (SMS: never re-sent blind; email: retried
#: with the same Message-ID): a provider that stops answering must not hold its channel's lane for ever.
NOTICE_SEND_TIMEOUT_SECONDS = 60.0

#: How often a delivery worker looks for sends interrupted by a dead worker (expired leases), apart from
#: its channels' lanes, so an interrupted email is retried soon even while a long SMS pass runs.
NOTICE_RECOVERY_SECONDS = 30.0

#: Wait when a provider defers (flow control) without saying how long.
NOTICE_DEFER_SECONDS = 600.0

#: Sending hours norm for non-urgent SMS in China (operators' practice, configurable).
SMS_QUIET_HOURS = "21:00-08:00"

#: Aliyun accepts 1–35 characters per SMS template variable; longer values are refused at send time.
SMS_PARAM_MAX_CHARS = 35

#: SMS segments a notice should cost at most (`policy-push templates lint` checks the templates against
#: it with a long name and a large amount): every segment is billed per firm, and two carry any notice.
SMS_SEGMENT_BUDGET = 2

#: A firm's short form in an SMS is shortened further, down to this, to keep the message within
#: SMS_SEGMENT_BUDGET; 12 characters still name the firm (云南滇池示例商贸有限公司 is 12) and leave
#: room for the longest template's facts (the closed rent waiver: 122 characters besides the name).
SMS_FIRM_MIN_CHARS = 12

#: Default provider rate limits, sends per second (providers publish per-account limits; set yours).
SMS_PER_SECOND = 10.0
EMAIL_PER_SECOND = 20.0

#: The SMS signature (【签名】) used when none is configured; it must be one approved by the provider.
SMS_SIGN_NAME = "政策直达"

#: Firms a backfill reads, judges and writes as one unit: large enough to amortise the queries
#: and the inter-process hop, small enough that a batch's changes (with explanations) stay a few MB.
BACKFILL_BATCH_SIZE = 500

#: Batches in flight per backfill worker process: one being judged, one queued, so a worker never
#: waits for the parent; more would only hold memory.
BACKFILL_BATCHES_PER_WORKER = 2

#: The cyclic garbage collector's thresholds in a backfill's worker processes (gc.set_threshold), whose
#: start-up objects are also frozen out of its reach (gc.freeze). A batch allocates millions of objects
#: that reference counting frees; with the defaults (700, 10, 10) a full collection walked every live
#: object (the catalogue, the decision cache) a dozen times per 5,000 firms: 1.6 s of CPU per worker.
BACKFILL_GC_THRESHOLDS = (10_000, 10, 100)

#: Rows (decisions and notices) a backfill process writes to PostgreSQL before it first refreshes the
#: planner's statistics of those tables (ANALYZE); then again each time its writes since have reached what
#: it had written before, so the statistics never lag the tables by more than half. Without them the
#: per-batch reads of a first backfill (latest decisions, what firms were told) were planned as scans of
#: the whole table: 0.2–0.6 s a batch at a million rows and growing (autovacuum off, or not yet run).
BACKFILL_ANALYZE_AFTER_ROWS = 20_000

#: Seconds a process holds a claimed batch of a shared backfill (engine.backfill.shared): long enough for
#: a batch of BACKFILL_BATCH_SIZE firms on a busy machine (seconds), short enough that a batch of a process
#: that died is taken up again soon.
BACKFILL_LEASE_SECONDS = 300

#: How often the service looks for clause windows that opened (engine.backfill.opening). Windows open
#: on a day, so a check every ten minutes judges the firms soon after midnight in China at no cost.
WINDOW_CHECK_SECONDS = 600.0

#: Firms the window job judges per batch inside the service: smaller than a backfill's, so the
#: service's event loop is never held long by one batch.
WINDOW_BATCH_SIZE = 200

#: Distinct string values (region and industry codes, levels) a durable-rules fact encoder keeps
#: encoded; there are a few thousand, so the bound only guards against unexpected free text.
FACT_STRINGS_CACHED = 65_536

#: Full decisions (explanation, facts, amount) the reference evaluator keeps per process, keyed by the
#: clause, the day and the values the clause reads (engine.judging.catalogue.reference): a province's
#: firms share a few thousand of them per clause. Each holds an explanation of a few KB, so 8,192 stay
#: within ~40 MB of a worker process; when full it starts afresh.
DECISIONS_CACHED = 8_192

#: Judges (one per as-of date) the pipeline's ChangesMatcher keeps before starting afresh: a judge of a
#: new date is a few lookups (the compiled catalogue is shared), so the bound only limits memory.
JUDGES_KEPT = 512
#: Regions whose in-scope clauses a span of dates keeps (judge.Compiled): there are ~3,000 counties,
#: so the bound only guards against unexpected region values; past it the cache starts afresh.
SCOPES_KEPT = 8192

#: Valid USCCs the webhook's validation remembers (engine.ingest.validation), so a firm's next event
#: skips python-stdnum's check (~14 µs, a quarter of validating an event) while the firm is among the
#: most recent; ~150 bytes each, so about 2.5 MB. An invalid one is never remembered.
VALID_USCCS_KEPT = 16_384

#: The broker events may also arrive through (`policy-push consume`): RabbitMQ on this machine by default.
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
#: The durable queue the consumer reads; invalid messages go to this name + AMQP_DEAD_SUFFIX with their reason.
AMQP_QUEUE = "policy-push.events"
AMQP_DEAD_SUFFIX = ".dead"
#: Messages a consumer holds unacknowledged at once: each is acknowledged only after its commit, so this
#: bounds what a broker redelivers after a crash (each is then recognised by its id and stored once).
AMQP_PREFETCH = 50
#: Wait before a message is handed back when the database cannot take it (it is redelivered, not lost).
AMQP_RETRY_SECONDS = 1.0

#: Rows per INSERT when `policy-push db copy` moves an installation to PostgreSQL: large enough that
#: round trips do not dominate, small enough that one batch of wide rows (events, notices) stays a few MB.
DB_COPY_BATCH_ROWS = 1000

#: How often a running service logs its one-line summary (events folded, decisions, notices by outcome)
#: at INFO: each minute, so the default log says what the service did without a line per event.
LOG_SUMMARY_SECONDS = 60.0
