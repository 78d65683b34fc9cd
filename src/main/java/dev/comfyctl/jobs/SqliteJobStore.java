package dev.comfyctl.jobs;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.sqlite.SQLiteConfig;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;

/**
 * The embedded job store: one SQLite file ({@code <COMFYCTL_HOME>/jobs.db}) in WAL mode with
 * {@code synchronous=NORMAL}. A commit has then written its WAL frames to the file before the method returns, so
 * every job survives the daemon's death, kill -9 included (tested with a real process); only an operating-system
 * crash or a power cut can lose the last commits, never damage the file. {@code synchronous=FULL} would also
 * survive those, at one fsync per commit: three per job, and bench/jobs-store.sh measured 80 to 430 bare commits/s
 * here against about 6,000 with NORMAL, which would cap the queue far below its goal of 500 jobs/s.
 *
 * <p>A lease is a random token in the job's row plus a deadline; a job RUNNING past its deadline was left by a
 * dead worker and the next {@link #claim} takes it, as a new attempt. One connection serves every thread, one at
 * a time: SQLite writes one transaction at a time anyway. All methods block: never call them on an event loop.
 */
public final class SqliteJobStore implements JobStore {
    private static final Logger log = LoggerFactory.getLogger(SqliteJobStore.class);
    /** How often a waiting claimer looks again without being told: leases expire without anyone telling it. */
    private static final long CLAIM_POLL_MILLIS = 200;

    private static final String SCHEMA = """
            CREATE TABLE IF NOT EXISTS jobs (
              seq INTEGER PRIMARY KEY AUTOINCREMENT,
              id TEXT NOT NULL UNIQUE,
              state TEXT NOT NULL,
              prompt TEXT NOT NULL,
              priority INTEGER NOT NULL,
              webhook TEXT,
              attempts INTEGER NOT NULL DEFAULT 0,
              worker TEXT,
              lease_token TEXT,
              lease_until INTEGER,
              progress REAL NOT NULL DEFAULT 0,
              errors TEXT NOT NULL DEFAULT '[]',
              outputs TEXT NOT NULL DEFAULT '[]',
              created_at INTEGER NOT NULL,
              started_at INTEGER,
              finished_at INTEGER,
              cancel_requested INTEGER NOT NULL DEFAULT 0);
            CREATE INDEX IF NOT EXISTS jobs_queued ON jobs(state, priority DESC, seq);
            CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, seq);
            CREATE INDEX IF NOT EXISTS jobs_leases ON jobs(state, lease_until);
            CREATE INDEX IF NOT EXISTS jobs_finished ON jobs(state, finished_at);
            CREATE TABLE IF NOT EXISTS job_inputs (
              job_id TEXT NOT NULL,
              position INTEGER NOT NULL,
              name TEXT NOT NULL,
              content BLOB NOT NULL,
              PRIMARY KEY (job_id, position));
            """;
    private static final String COLUMNS = "id, state, prompt, priority, webhook, attempts, worker, progress, errors, "
            + "outputs, created_at, started_at, finished_at, cancel_requested";

    private final Path file;
    private final int maxAttempts;
    private final Connection connection;
    private final ReentrantLock lock = new ReentrantLock();
    /** Signalled when a job may have become claimable. */
    private final Condition claimable = lock.newCondition();
    /** Counts those signals (under the lock), so that a claimer never waits for one it missed. */
    private volatile long arrivals;
    private final Subscribers subscribers = new Subscribers();
    /** Compiled once: parsing the SQL again for every call cost more than running it. Used under the lock. */
    private final Map<String, PreparedStatement> statements = new HashMap<>();
    private final AtomicBoolean closed = new AtomicBoolean();

    /**
     * Opens (or creates) the store.
     *
     * @param maxAttempts attempts a job gets before it is dead-lettered (JOB_MAX_ATTEMPTS)
     * @throws JobStoreException when the file cannot be opened or is not a job store
     */
    public SqliteJobStore(Path file, int maxAttempts) {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts < 1");
        }
        this.file = file;
        this.maxAttempts = maxAttempts;
        SQLiteConfig config = new SQLiteConfig();
        config.setJournalMode(SQLiteConfig.JournalMode.WAL);
        config.setSynchronous(SQLiteConfig.SynchronousMode.NORMAL);
        config.setBusyTimeout(10_000);
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            connection = config.createConnection("jdbc:sqlite:" + file);
        } catch (Exception e) {
            throw cannotOpen(file, e);
        }
        try (Statement statement = connection.createStatement()) {
            statement.executeUpdate(SCHEMA);
        } catch (SQLException e) {
            closeQuietly();
            throw cannotOpen(file, e);
        }
        log.info("job store {} open: {} queued, {} running", file, depth(), count(JobState.RUNNING));
    }

    private static JobStoreException cannotOpen(Path file, Exception e) {
        return new JobStoreException("cannot open the job store " + file + ": " + e.getMessage() + " (check that the"
                + " state directory is writable; a damaged file: move it away to start with an empty queue)", e);
    }

    @Override
    public Job enqueue(JobSpec spec) {
        Job job = new Job(UUID.randomUUID().toString(), JobState.QUEUED, spec, 0, Optional.empty(), 0, List.of(),
                List.of(), Instant.ofEpochMilli(System.currentTimeMillis()), Optional.empty(), Optional.empty(), false);
        transaction(() -> {
            PreparedStatement row = prepare(
                    "INSERT INTO jobs (id, state, prompt, priority, webhook, created_at) VALUES (?, ?, ?, ?, ?, ?)");
            row.setString(1, job.id());
            row.setString(2, JobState.QUEUED.name());
            row.setString(3, spec.prompt());
            row.setInt(4, spec.priority());
            row.setString(5, spec.webhook().orElse(null));
            row.setLong(6, job.createdAt().toEpochMilli());
            row.executeUpdate();
            PreparedStatement input = prepare("INSERT INTO job_inputs (job_id, position, name, content) VALUES (?, ?, ?, ?)");
            for (int i = 0; i < spec.inputs().size(); i++) {
                input.setString(1, job.id());
                input.setInt(2, i);
                input.setString(3, spec.inputs().get(i).name());
                input.setBytes(4, spec.inputs().get(i).content());
                input.executeUpdate();
            }
            return null;
        });
        wakeClaimers();
        publish(job, Optional.empty());
        return job;
    }

    @Override
    public Optional<Job> find(String id) {
        return transaction(() -> load(id, true));
    }

    @Override
    public List<Job> list(Optional<JobState> state, int limit) {
        return transaction(() -> {
            String where = state.map(s -> " WHERE state = ?").orElse("");
            PreparedStatement select = prepare(
                    "SELECT " + COLUMNS + " FROM jobs" + where + " ORDER BY seq DESC LIMIT ?");
            int index = 1;
            if (state.isPresent()) {
                select.setString(index++, state.get().name());
            }
            select.setInt(index, limit);
            return readAll(select);
        });
    }

    @Override
    public long depth() {
        return count(JobState.QUEUED);
    }

    private long count(JobState state) {
        return transaction(() -> {
            PreparedStatement select = prepare("SELECT count(*) FROM jobs WHERE state = ?");
            select.setString(1, state.name());
            try (ResultSet rows = select.executeQuery()) {
                rows.next();
                return rows.getLong(1);
            }
        });
    }

    @Override
    public Optional<Lease> claim(String worker, Duration visibility, Duration wait) throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
        while (true) {
            long seen = arrivals;
            Optional<Lease> lease = tryClaim(worker, visibility);
            if (lease.isPresent()) {
                return lease;
            }
            long left = deadline - System.nanoTime();
            if (left <= 0) {
                return Optional.empty();
            }
            lock.lockInterruptibly();
            try {
                if (seen == arrivals) {
                    claimable.await(Math.min(left, TimeUnit.MILLISECONDS.toNanos(CLAIM_POLL_MILLIS)), TimeUnit.NANOSECONDS);
                }
            } finally {
                lock.unlock();
            }
        }
    }

    /** Ends what expired leases left behind, then leases a reclaimed job first, else the next queued one. */
    private Optional<Lease> tryClaim(String worker, Duration visibility) {
        List<Runnable> events = new ArrayList<>();
        Optional<Lease> lease = transaction(() -> {
            long now = System.currentTimeMillis();
            for (Job expired : select("state = 'RUNNING' AND lease_until < ? ORDER BY lease_until", now)) {
                String error = "attempt " + expired.attempts() + " lost its lease: worker "
                        + expired.worker().orElse("?") + " stopped renewing it (it died or hung)";
                if (expired.cancelRequested()) {
                    finish(expired.id(), JobState.CANCELLED, now);
                    events.add(event(expired.id(), Optional.empty()));
                } else if (expired.attempts() >= maxAttempts) {
                    appendError(expired.id(), error);
                    finish(expired.id(), JobState.FAILED, now);
                    events.add(event(expired.id(), Optional.of(error)));
                } else {
                    // Still RUNNING, but with a lapsed deadline: the query below picks it up first.
                    appendError(expired.id(), error);
                }
            }
            List<Job> next = select("state = 'RUNNING' AND lease_until < ? ORDER BY lease_until LIMIT 1", now);
            if (next.isEmpty()) {
                next = select("state = 'QUEUED' ORDER BY priority DESC, seq LIMIT 1");
            }
            if (next.isEmpty()) {
                return Optional.<Lease>empty();
            }
            String token = UUID.randomUUID().toString();
            PreparedStatement update = prepare("UPDATE jobs SET state = 'RUNNING', "
                    + "attempts = attempts + 1, worker = ?, lease_token = ?, lease_until = ?, progress = 0, "
                    + "started_at = ? WHERE id = ?");
            update.setString(1, worker);
            update.setString(2, token);
            update.setLong(3, now + visibility.toMillis());
            update.setLong(4, now);
            update.setString(5, next.get(0).id());
            update.executeUpdate();
            Job job = load(next.get(0).id(), true).orElseThrow();
            events.add(() -> publish(job, Optional.empty()));
            return Optional.of(new Lease(job, worker, job.attempts(), token));
        });
        events.forEach(Runnable::run);
        return lease;
    }

    @Override
    public boolean renew(Lease lease, Duration visibility) {
        Optional<Job> ended = transaction(() -> {
            Optional<Job> job = held(lease);
            if (job.isEmpty()) {
                return Optional.<Job>empty();
            }
            if (job.get().cancelRequested()) {
                finish(lease.jobId(), JobState.CANCELLED, System.currentTimeMillis());
                return load(lease.jobId(), false);
            }
            PreparedStatement update = prepare("UPDATE jobs SET lease_until = ? WHERE id = ?");
            update.setLong(1, System.currentTimeMillis() + visibility.toMillis());
            update.setString(2, lease.jobId());
            update.executeUpdate();
            return job;
        });
        ended.filter(job -> job.state() == JobState.CANCELLED).ifPresent(job -> publish(job, Optional.empty()));
        return ended.map(job -> job.state() == JobState.RUNNING).orElse(false);
    }

    @Override
    public void progress(Lease lease, double progress, List<JobEvent> events) {
        boolean held = transaction(() -> {
            PreparedStatement update = prepare(
                    "UPDATE jobs SET progress = ? WHERE id = ? AND lease_token = ? AND state = 'RUNNING'");
            update.setDouble(1, Math.max(0, Math.min(1, progress)));
            update.setString(2, lease.jobId());
            update.setString(3, lease.token());
            return update.executeUpdate() == 1;
        });
        if (held) {
            events.forEach(subscribers::publish);
        }
    }

    @Override
    public boolean succeed(Lease lease, List<JobOutput> outputs) {
        return succeed(lease, OptionalDouble.empty(), List.of(), outputs);
    }

    @Override
    public boolean succeed(Lease lease, double progress, List<JobEvent> events, List<JobOutput> outputs) {
        return succeed(lease, OptionalDouble.of(Math.max(0, Math.min(1, progress))), events, outputs);
    }

    /**
     * One transaction; the events are relayed, before the job's state, only when the lease was held. A job cancelled
     * meanwhile keeps the progress it reached.
     */
    private boolean succeed(Lease lease, OptionalDouble progress, List<JobEvent> events, List<JobOutput> outputs) {
        Optional<Job> ended = transaction(() -> {
            Optional<Job> job = held(lease);
            if (job.isEmpty()) {
                return Optional.<Job>empty();
            }
            if (job.get().cancelRequested()) {
                if (progress.isPresent()) {
                    PreparedStatement update = prepare("UPDATE jobs SET progress = ? WHERE id = ?");
                    update.setDouble(1, progress.getAsDouble());
                    update.setString(2, lease.jobId());
                    update.executeUpdate();
                }
                finish(lease.jobId(), JobState.CANCELLED, System.currentTimeMillis());
            } else {
                PreparedStatement update = prepare("UPDATE jobs SET outputs = ?, progress = 1 WHERE id = ?");
                update.setString(1, JobJson.outputs(outputs));
                update.setString(2, lease.jobId());
                update.executeUpdate();
                finish(lease.jobId(), JobState.SUCCEEDED, System.currentTimeMillis());
            }
            return load(lease.jobId(), false);
        });
        ended.ifPresent(job -> {
            events.forEach(subscribers::publish);
            publish(job, Optional.empty());
        });
        return ended.map(job -> job.state() == JobState.SUCCEEDED).orElse(false);
    }

    @Override
    public Job fail(Lease lease, String error, boolean retryable) {
        boolean[] requeued = {false};
        Optional<Job> ended = transaction(() -> {
            Optional<Job> job = held(lease);
            if (job.isEmpty()) {
                return Optional.<Job>empty();
            }
            long now = System.currentTimeMillis();
            if (job.get().cancelRequested()) {
                finish(lease.jobId(), JobState.CANCELLED, now);
                return load(lease.jobId(), false);
            }
            appendError(lease.jobId(), error);
            if (retryable && job.get().attempts() < maxAttempts) {
                requeue(lease.jobId(), false);
                requeued[0] = true;
            } else {
                finish(lease.jobId(), JobState.FAILED, now);
            }
            return load(lease.jobId(), false);
        });
        if (ended.isEmpty()) {
            return find(lease.jobId()).orElseThrow(() -> new JobStoreException("job " + lease.jobId() + " is gone"));
        }
        if (requeued[0]) {
            wakeClaimers();
        }
        boolean cancelled = ended.get().state() == JobState.CANCELLED;
        publish(ended.get(), cancelled ? Optional.empty() : Optional.of(error));
        return ended.get();
    }

    @Override
    public void release(Lease lease) {
        Optional<Job> ended = transaction(() -> {
            Optional<Job> job = held(lease);
            if (job.isEmpty()) {
                return Optional.<Job>empty();
            }
            if (job.get().cancelRequested()) {
                finish(lease.jobId(), JobState.CANCELLED, System.currentTimeMillis());
            } else {
                requeue(lease.jobId(), true);
            }
            return load(lease.jobId(), false);
        });
        ended.ifPresent(job -> {
            wakeClaimers();
            publish(job, Optional.empty());
        });
    }

    @Override
    public Optional<Job> cancel(String id) {
        boolean[] changed = {false};
        Optional<Job> result = transaction(() -> {
            Optional<Job> job = load(id, false);
            if (job.isEmpty() || job.get().state().finished() || job.get().cancelRequested()) {
                return job;
            }
            if (job.get().state() == JobState.QUEUED) {
                finish(id, JobState.CANCELLED, System.currentTimeMillis());
            } else {
                PreparedStatement update = prepare("UPDATE jobs SET cancel_requested = 1 WHERE id = ?");
                update.setString(1, id);
                update.executeUpdate();
            }
            changed[0] = true;
            return load(id, true);
        });
        if (changed[0]) {
            publish(result.orElseThrow(), Optional.empty());
        }
        return result;
    }

    @Override
    public List<Job> deadLetters(int limit) {
        return transaction(() -> {
            PreparedStatement select = prepare(
                    "SELECT " + COLUMNS + " FROM jobs WHERE state = 'FAILED' ORDER BY finished_at DESC, seq DESC LIMIT ?");
            select.setInt(1, limit);
            return readAll(select);
        });
    }

    @Override
    public List<String> prune(Instant finishedBefore, int limit) {
        return transaction(() -> {
            PreparedStatement select = prepare("SELECT id FROM jobs WHERE state IN ('SUCCEEDED', 'FAILED', 'CANCELLED')"
                    + " AND finished_at < ? ORDER BY finished_at LIMIT ?");
            select.setLong(1, finishedBefore.toEpochMilli());
            select.setInt(2, limit);
            List<String> ids = new ArrayList<>();
            try (ResultSet rows = select.executeQuery()) {
                while (rows.next()) {
                    ids.add(rows.getString(1));
                }
            }
            PreparedStatement deleteInputs = prepare("DELETE FROM job_inputs WHERE job_id = ?");
            PreparedStatement deleteJob = prepare("DELETE FROM jobs WHERE id = ?");
            for (String id : ids) {
                deleteInputs.setString(1, id);
                deleteInputs.executeUpdate();
                deleteJob.setString(1, id);
                deleteJob.executeUpdate();
            }
            return ids;
        });
    }

    @Override
    public AutoCloseable subscribe(String jobId, Consumer<JobEvent> listener) {
        return subscribers.add(jobId, listener);
    }

    /** Idempotent. A claim waiting meanwhile ends at once with an IllegalStateException, as every later call does. */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        lock.lock();
        try {
            closeQuietly();
            subscribers.clear();
            log.info("job store {} closed", file);
        } finally {
            lock.unlock();
        }
        wakeAllClaimers();
    }

    private PreparedStatement prepare(String sql) throws SQLException {
        PreparedStatement statement = statements.get(sql);
        if (statement == null) {
            statement = connection.prepareStatement(sql);
            statements.put(sql, statement);
        }
        return statement;
    }

    private void closeQuietly() {
        try {
            connection.close();
        } catch (SQLException e) {
            log.warn("closing the job store {}: {}", file, e.toString());
        }
    }

    /** The job as this lease holds it: RUNNING under this very token, or nothing when the lease was lost. */
    private Optional<Job> held(Lease lease) throws SQLException {
        PreparedStatement select = prepare(
                "SELECT " + COLUMNS + " FROM jobs WHERE id = ? AND lease_token = ? AND state = 'RUNNING'");
        select.setString(1, lease.jobId());
        select.setString(2, lease.token());
        return readAll(select).stream().findFirst();
    }

    private void requeue(String id, boolean giveBackAttempt) throws SQLException {
        PreparedStatement update = prepare("UPDATE jobs SET state = 'QUEUED', worker = NULL, "
                + "lease_token = NULL, lease_until = NULL, progress = 0, started_at = NULL"
                + (giveBackAttempt ? ", attempts = attempts - 1" : "") + " WHERE id = ?");
        update.setString(1, id);
        update.executeUpdate();
    }

    private void finish(String id, JobState state, long now) throws SQLException {
        PreparedStatement update = prepare("UPDATE jobs SET state = ?, worker = NULL, "
                + "lease_token = NULL, lease_until = NULL, finished_at = ? WHERE id = ?");
        update.setString(1, state.name());
        update.setLong(2, now);
        update.setString(3, id);
        update.executeUpdate();
    }

    private void appendError(String id, String error) throws SQLException {
        List<String> errors = new ArrayList<>(load(id, false).orElseThrow().errors());
        errors.add(error);
        PreparedStatement update = prepare("UPDATE jobs SET errors = ? WHERE id = ?");
        update.setString(1, JobJson.errors(errors));
        update.setString(2, id);
        update.executeUpdate();
    }

    private List<Job> select(String where, long... parameters) throws SQLException {
        PreparedStatement select = prepare("SELECT " + COLUMNS + " FROM jobs WHERE " + where);
        for (int i = 0; i < parameters.length; i++) {
            select.setLong(i + 1, parameters[i]);
        }
        return readAll(select);
    }

    private Optional<Job> load(String id, boolean withInputs) throws SQLException {
        PreparedStatement select = prepare("SELECT " + COLUMNS + " FROM jobs WHERE id = ?");
        select.setString(1, id);
        Optional<Job> job = readAll(select).stream().findFirst();
        if (job.isEmpty() || !withInputs) {
            return job;
        }
        List<JobInput> inputs = new ArrayList<>();
        PreparedStatement selectInputs = prepare("SELECT name, content FROM job_inputs WHERE job_id = ? ORDER BY position");
        selectInputs.setString(1, id);
        try (ResultSet rows = selectInputs.executeQuery()) {
            while (rows.next()) {
                inputs.add(new JobInput(rows.getString(1), rows.getBytes(2)));
            }
        }
        Job found = job.get();
        JobSpec spec = new JobSpec(found.spec().prompt(), found.spec().priority(), found.spec().webhook(), inputs);
        return Optional.of(new Job(found.id(), found.state(), spec, found.attempts(), found.worker(), found.progress(),
                found.errors(), found.outputs(), found.createdAt(), found.startedAt(), found.finishedAt(),
                found.cancelRequested()));
    }

    private static List<Job> readAll(PreparedStatement select) throws SQLException {
        List<Job> jobs = new ArrayList<>();
        try (ResultSet rows = select.executeQuery()) {
            while (rows.next()) {
                JobSpec spec = new JobSpec(rows.getString("prompt"), rows.getInt("priority"),
                        Optional.ofNullable(rows.getString("webhook")), List.of());
                jobs.add(new Job(rows.getString("id"), JobState.valueOf(rows.getString("state")), spec,
                        rows.getInt("attempts"), Optional.ofNullable(rows.getString("worker")), rows.getDouble("progress"),
                        JobJson.errors(rows.getString("errors")), JobJson.outputs(rows.getString("outputs")),
                        Instant.ofEpochMilli(rows.getLong("created_at")), instant(rows, "started_at"),
                        instant(rows, "finished_at"), rows.getInt("cancel_requested") != 0));
            }
        }
        return jobs;
    }

    private static Optional<Instant> instant(ResultSet rows, String column) throws SQLException {
        long millis = rows.getLong(column);
        return rows.wasNull() ? Optional.empty() : Optional.of(Instant.ofEpochMilli(millis));
    }

    private Runnable event(String id, Optional<String> error) throws SQLException {
        Job job = load(id, false).orElseThrow();
        return () -> publish(job, error);
    }

    private void publish(Job job, Optional<String> error) {
        subscribers.publish(JobJson.stateEvent(job, error));
    }

    private void wakeAllClaimers() {
        lock.lock();
        try {
            arrivals++;
            claimable.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** One claimer per new job: waking them all would have all but one look in vain. */
    private void wakeClaimers() {
        lock.lock();
        try {
            arrivals++;
            claimable.signal();
        } finally {
            lock.unlock();
        }
    }

    private interface Work<T> {
        T run() throws SQLException;
    }

    /** Runs {@code work} in one transaction, committed (and on disk) before it returns. */
    private <T> T transaction(Work<T> work) {
        lock.lock();
        try {
            if (closed.get()) {
                throw new IllegalStateException("the job store " + file + " is closed");
            }
            try (Statement statement = connection.createStatement()) {
                // IMMEDIATE: the write lock up front, so that a claim cannot read a job another writer then takes.
                // Explicit rather than the driver's autocommit=false, which would hold that lock between calls.
                statement.execute("BEGIN IMMEDIATE");
                T result;
                try {
                    result = work.run();
                } catch (SQLException | RuntimeException e) {
                    rollback(statement);
                    throw e;
                }
                statement.execute("COMMIT");
                return result;
            } catch (SQLException e) {
                throw new JobStoreException("job store " + file + ": " + e.getMessage(), e);
            }
        } finally {
            lock.unlock();
        }
    }

    private void rollback(Statement statement) {
        try {
            statement.execute("ROLLBACK");
        } catch (SQLException e) {
            log.warn("rollback in the job store {} failed: {}", file, e.toString());
        }
    }
}
