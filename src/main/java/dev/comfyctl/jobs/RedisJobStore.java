package dev.comfyctl.jobs;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.type.TypeReference;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.InputStream;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The fleet's job store: one Redis (QUEUE_URL) shared by every daemon, each worker a consumer of one consumer
 * group. Layout, under the prefix {@code comfyctl:}:
 * <ul>
 *   <li>{@code job:<id>} a hash per job (spec, state, attempts, lease, errors, outputs), so that any daemon
 *       answers {@link #find}; {@code inputs:<id>} its input files; {@code jobs} and {@code state:<STATE>} sorted
 *       sets of ids by submission order, for {@link #list}; {@code dead} the dead letters, newest first;
 *       {@code leases} the deadlines of running jobs' leases; {@code finished} finished jobs by when they finished,
 *       for {@link #prune}.</li>
 *   <li>{@code queue:<priority>} a stream per priority, all read by the group {@code workers}. Streams are FIFO,
 *       so priority comes from reading the streams highest first ({@code priorities} lists them).</li>
 *   <li>{@code events:<id>} a pub/sub channel per job, {@code wake} one that says a job became claimable, and
 *       {@code waiting} the stores whose claimers found nothing, with until when they wait: a wake is published
 *       only while one does, so that a busy fleet with jobs queued is not told of every new one.</li>
 * </ul>
 * A lease is the job's entry pending in the group, plus a token and a deadline in the job hash and in the sorted
 * set {@code leases}. XAUTOCLAIM takes every entry idle past one threshold, but here each lease has its own
 * visibility (the claimer's), and scanning the pending entries would cost every claim as many steps as jobs run
 * across the fleet; so a claim takes the deadlines that passed from {@code leases} and takes over (XCLAIM) their
 * entries: a new attempt, or the dead letters once the attempts are used up. A job given back (release, a
 * retryable failure) keeps its pending entry with a deadline of 0, and is the next one claimed. Every change is one Lua script ({@code jobs.lua}), atomic
 * across the fleet: two daemons cannot take the same entry, and a result is accepted only under the lease's
 * current token, so a job that ran twice keeps one result. Worker names change with every daemon start, so a
 * store removes from the group its consumers that hold nothing when it closes, and anyone's that have been silent
 * for an hour (a daemon that died) when it opens.
 *
 * <p>A claim does not block inside Redis (XREADGROUP BLOCK would hold a connection per waiting worker): it
 * waits for a message on {@code wake}, and looks again at least every 200 ms for leases that expired.
 * Redis's share of a job is mostly its calls (each a round trip, a script run, a write to the append-only file),
 * so a job takes as few as four: enqueue, claim, progress, and a succeed that carries the last progress; and each script
 * answers only what its caller reads.
 * Durability is Redis's: run it with {@code appendonly yes} ({@code appendfsync always} to survive power
 * loss, not only a crash). Single Redis only (no cluster): the scripts touch keys they find as they go.
 */
public final class RedisJobStore implements JobStore {
    private static final Logger log = LoggerFactory.getLogger(RedisJobStore.class);
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String PREFIX = "comfyctl:";
    private static final String GROUP = "workers";
    private static final String WAKE = PREFIX + "wake";
    private static final String EVENTS = PREFIX + "events:";
    private static final long CLAIM_POLL_MILLIS = 200;
    /**
     * How long a claim that found nothing counts as waiting, for jobs.lua to publish a wake when a job arrives; a
     * waiting claimer looks again every {@link #CLAIM_POLL_MILLIS}, which renews it.
     */
    private static final long WAITING_MILLIS = 5 * CLAIM_POLL_MILLIS;
    /** A consumer holding nothing and silent this long belonged to a daemon that is gone. */
    private static final Duration ABANDONED_CONSUMER = Duration.ofHours(1);
    private static final TypeReference<List<JobInput>> INPUTS = new TypeReference<>() { };
    private static final String SCRIPT = script();
    private static final String SCRIPT_SHA = sha1(SCRIPT);

    private final RedisLink link;
    private final int maxAttempts;
    private final RedisSubscriber subscriber;
    private final Subscribers subscribers = new Subscribers();
    /** Per job with listeners here: its SUBSCRIBE, done once Redis confirmed it. */
    private final Map<String, Future<?>> subscriptions = new ConcurrentHashMap<>();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition claimable = lock.newCondition();
    private volatile long arrivals;
    private final AtomicBoolean closed = new AtomicBoolean();
    /** Consumer names this store claimed for, forgotten by the group at close when they hold nothing. */
    private final Set<String> workers = ConcurrentHashMap.newKeySet();
    /** This store in the set {@code waiting}: wakes go to every store, which wakes one of its claimers. */
    private final String name = UUID.randomUUID().toString();
    /** Claims under way in this store: one that gets a job leaves the store waiting while others may wait. */
    private final AtomicInteger claiming = new AtomicInteger();

    /**
     * Connects; blocking.
     *
     * @param url {@code redis://[:password@]host:port/db} (QUEUE_URL)
     * @param maxAttempts attempts a job gets before it is dead-lettered (JOB_MAX_ATTEMPTS)
     * @throws JobStoreException when Redis does not answer, saying where and what to do
     */
    public RedisJobStore(Vertx vertx, URI url, int maxAttempts) {
        if (maxAttempts < 1) {
            throw new IllegalArgumentException("maxAttempts < 1");
        }
        this.maxAttempts = maxAttempts;
        this.link = new RedisLink(vertx, url);
        try {
            this.subscriber = new RedisSubscriber(link, this::onMessage, WAKE);
        } catch (RuntimeException e) {
            link.close();
            throw e;
        }
        try {
            forgetConsumers();
            log.info("job store on {}: {} queued", link.where(), depth());
        } catch (RuntimeException e) {
            subscriber.close();
            link.close();
            throw e;
        }
    }

    /** Answers the job as sent: only its creation time comes from Redis's clock. */
    @Override
    public Job enqueue(JobSpec spec) {
        String id = UUID.randomUUID().toString();
        String inputs = spec.inputs().isEmpty() ? "" : write(spec.inputs());
        Response answer = run("enqueue", id, spec.prompt(), Integer.toString(spec.priority()), spec.webhook().orElse(""), inputs);
        return new Job(id, JobState.QUEUED, spec, 0, Optional.empty(), 0, List.of(), List.of(),
                Instant.ofEpochMilli(answer.get(1).toLong()), Optional.empty(), Optional.empty(), false);
    }

    @Override
    public Optional<Job> find(String id) {
        List<Response> answers = batch(List.of(Request.cmd(Command.HGETALL).arg(PREFIX + "job:" + id),
                Request.cmd(Command.GET).arg(PREFIX + "inputs:" + id)));
        if (answers.get(0) == null || answers.get(0).size() == 0) {
            return Optional.empty();
        }
        Job job = job(answers.get(0));
        Response inputs = answers.get(1);
        return Optional.of(inputs == null ? job : withInputs(job, read(inputs.toString(), INPUTS)));
    }

    @Override
    public List<Job> list(Optional<JobState> state, int limit) {
        if (limit < 1) {
            return List.of();
        }
        String set = state.map(s -> PREFIX + "state:" + s.name()).orElse(PREFIX + "jobs");
        return jobs(send(Request.cmd(Command.ZREVRANGE).arg(set).arg(0).arg(limit - 1)));
    }

    @Override
    public long depth() {
        return send(Request.cmd(Command.ZCARD).arg(PREFIX + "state:" + JobState.QUEUED.name())).toLong();
    }

    @Override
    public Optional<Lease> claim(String worker, Duration visibility, Duration wait) throws InterruptedException {
        workers.add(worker);
        claiming.incrementAndGet();
        try {
            return claim(worker, visibility, System.nanoTime() + wait.toNanos());
        } finally {
            claiming.decrementAndGet();
        }
    }

    private Optional<Lease> claim(String worker, Duration visibility, long deadline) throws InterruptedException {
        while (true) {
            long seen = arrivals;
            String token = UUID.randomUUID().toString();
            Response answer = run("claim", worker, Long.toString(visibility.toMillis()), Integer.toString(maxAttempts), token,
                    Long.toString(WAITING_MILLIS), name, claiming.get() > 1 ? "1" : "0");
            if (answer.get(0).toString().equals("claimed")) {
                return Optional.of(lease(answer.get(1), answer.get(2).toString(), worker, token));
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

    @Override
    public boolean renew(Lease lease, Duration visibility) {
        return run("renew", lease.jobId(), lease.token(), Long.toString(visibility.toMillis())).get(0).toString().equals("renewed");
    }

    @Override
    public void progress(Lease lease, double progress, List<JobEvent> events) {
        List<String> arguments = new ArrayList<>(List.of(lease.jobId(), lease.token(), fraction(progress)));
        events.forEach(event -> arguments.add(eventJson(event)));
        run("progress", arguments.toArray(String[]::new));
    }

    @Override
    public boolean succeed(Lease lease, List<JobOutput> outputs) {
        return run("succeed", lease.jobId(), lease.token(), JobJson.outputs(outputs), "").get(0).toString().equals("succeeded");
    }

    /** One script call: the events are relayed and the job finished in the same step, or neither when the lease was lost. */
    @Override
    public boolean succeed(Lease lease, double progress, List<JobEvent> events, List<JobOutput> outputs) {
        List<String> arguments = new ArrayList<>(List.of(lease.jobId(), lease.token(), JobJson.outputs(outputs), fraction(progress)));
        events.forEach(event -> arguments.add(eventJson(event)));
        return run("succeed", arguments.toArray(String[]::new)).get(0).toString().equals("succeeded");
    }

    @Override
    public Job fail(Lease lease, String error, boolean retryable) {
        Response answer = run("fail", lease.jobId(), lease.token(), error, retryable ? "1" : "0", Integer.toString(maxAttempts));
        if (answer.get(1).size() == 0) {
            throw new JobStoreException("job " + lease.jobId() + " is gone from " + link.where());
        }
        return job(answer.get(1));
    }

    @Override
    public void release(Lease lease) {
        run("release", lease.jobId(), lease.token());
    }

    @Override
    public Optional<Job> cancel(String id) {
        Response answer = run("cancel", id);
        return answer.get(0).toString().equals("unknown") ? Optional.empty() : Optional.of(job(answer.get(1)));
    }

    @Override
    public List<Job> deadLetters(int limit) {
        if (limit < 1) {
            return List.of();
        }
        return jobs(send(Request.cmd(Command.LRANGE).arg(PREFIX + "dead").arg(0).arg(limit - 1)));
    }

    @Override
    public List<String> prune(Instant finishedBefore, int limit) {
        List<String> ids = new ArrayList<>();
        run("prune", Long.toString(finishedBefore.toEpochMilli()), Integer.toString(limit)).forEach(id -> ids.add(id.toString()));
        return ids;
    }

    /**
     * Events of the job from every daemon on this Redis. Called from a worker thread, it returns once Redis has
     * confirmed the subscription, so nothing published afterwards is missed; called on an event loop it cannot
     * wait: read the job with {@link #find} after subscribing to see what happened meanwhile.
     */
    @Override
    public AutoCloseable subscribe(String jobId, Consumer<JobEvent> listener) {
        AutoCloseable handle = subscribers.add(jobId, listener,
                () -> subscriptions.put(jobId, subscriber.subscribe(EVENTS + jobId)),
                () -> {
                    subscriptions.remove(jobId);
                    subscriber.unsubscribe(EVENTS + jobId);
                });
        Future<?> subscribed = subscriptions.getOrDefault(jobId, Future.succeededFuture());
        if (!Context.isOnEventLoopThread()) {
            try {
                link.await(subscribed, "SUBSCRIBE");
            } catch (JobStoreException e) {
                closeQuietly(handle);
                throw e;
            }
        }
        return handle;
    }

    private static void closeQuietly(AutoCloseable handle) {
        try {
            handle.close();
        } catch (Exception e) {
            log.debug("dropping a subscription: {}", e.toString());
        }
    }

    /**
     * Idempotent: closes the event connection, then the pooled client. A claim waiting meanwhile ends at once with
     * an IllegalStateException, as every later call does.
     */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        subscriber.close();
        subscribers.clear();
        try {
            forgetConsumers();
        } catch (JobStoreException e) {
            log.warn("could not remove this daemon's consumers from the group: {}", e.getMessage());
        }
        link.close();
        wakeClaimers(true);
        log.info("job store on {} closed", link.where());
    }

    private void onMessage(String channel, String message) {
        if (channel.equals(WAKE)) {
            wakeClaimers(false);
        } else if (channel.startsWith(EVENTS)) {
            try {
                JsonNode node = JSON.readTree(message);
                subscribers.publish(new JobEvent(node.path("jobId").asText(), at(node.path("at")),
                        node.path("type").asText(), node.path("json").asText()));
            } catch (JsonProcessingException e) {
                log.warn("unreadable job event on {}: {}", channel, message);
            }
        }
    }

    /**
     * Removes from the group the consumers that hold no entry and are this store's or idle for an hour: every
     * daemon start brings new worker names, which would otherwise pile up in the group for ever.
     */
    private void forgetConsumers() {
        List<String> arguments = new ArrayList<>(List.of(Long.toString(ABANDONED_CONSUMER.toMillis())));
        arguments.addAll(workers);
        Response answer = eval("forget", arguments.toArray(String[]::new));
        log.debug("removed {} idle consumers from the job queue's group", answer.get(1));
    }

    /** One claimer per new job (waking them all would have all but one look in vain), or all of them. */
    private void wakeClaimers(boolean all) {
        lock.lock();
        try {
            arrivals++;
            if (all) {
                claimable.signalAll();
            } else {
                claimable.signal();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Runs one operation of jobs.lua. */
    private Response run(String operation, String... arguments) {
        return whileOpen(() -> eval(operation, arguments));
    }

    private Response send(Request request) {
        return whileOpen(() -> link.send(request));
    }

    private List<Response> batch(List<Request> requests) {
        return whileOpen(() -> link.batch(requests));
    }

    /** A call to Redis; once the store is closed, an IllegalStateException, whatever Redis answered. */
    private <T> T whileOpen(Supplier<T> call) {
        if (closed.get()) {
            throw new IllegalStateException("the job store on " + link.where() + " is closed");
        }
        try {
            return call.get();
        } catch (JobStoreException e) {
            if (closed.get()) {
                throw new IllegalStateException("the job store on " + link.where() + " is closed", e);
            }
            throw e;
        }
    }

    /** Loads the script again when Redis lost it (a restart, a SCRIPT FLUSH). */
    private Response eval(String operation, String... arguments) {
        try {
            return link.send(script(Command.EVALSHA, SCRIPT_SHA, operation, arguments));
        } catch (JobStoreException e) {
            if (e.getMessage() == null || !e.getMessage().contains("NOSCRIPT")) {
                throw e;
            }
            return link.send(script(Command.EVAL, SCRIPT, operation, arguments));
        }
    }

    private static Request script(Command command, String script, String operation, String... arguments) {
        Request request = Request.cmd(command).arg(script).arg(0).arg(operation).arg(PREFIX).arg(GROUP);
        for (String argument : arguments) {
            request.arg(argument);
        }
        return request;
    }

    private List<Job> jobs(Response ids) {
        List<Request> reads = new ArrayList<>();
        ids.forEach(id -> reads.add(Request.cmd(Command.HGETALL).arg(PREFIX + "job:" + id.toString())));
        List<Job> jobs = new ArrayList<>();
        for (Response hash : batch(reads)) {
            if (hash != null && hash.size() > 0) {
                jobs.add(job(hash));
            }
        }
        return jobs;
    }

    /** A job hash, as HGETALL answers it (a map) or as a script returns it (a flat list of fields and values). */
    private static Job job(Response hash) {
        Map<String, String> fields = new HashMap<>();
        if (hash.isMap()) {
            hash.getKeys().forEach(key -> fields.put(key, hash.get(key).toString()));
        } else {
            for (int i = 0; i + 1 < hash.size(); i += 2) {
                fields.put(hash.get(i).toString(), hash.get(i + 1).toString());
            }
        }
        JobSpec spec = new JobSpec(fields.get("prompt"), Integer.parseInt(fields.get("priority")),
                Optional.ofNullable(fields.get("webhook")), List.of());
        return new Job(fields.get("id"), JobState.valueOf(fields.get("state")), spec, Integer.parseInt(fields.get("attempts")),
                Optional.ofNullable(fields.get("worker")), Double.parseDouble(fields.get("progress")),
                JobJson.errors(fields.get("errors")), JobJson.outputs(fields.get("outputs")),
                Instant.ofEpochMilli(Long.parseLong(fields.get("created"))), instant(fields.get("started")),
                instant(fields.get("finished")), "1".equals(fields.get("cancel")));
    }

    /**
     * The lease from a claim's answer: the job's id, prompt, priority, webhook ('' for none), attempts, errors,
     * outputs, created and started (epoch ms) and cancel flag, in this order, and its input files' JSON ('' for none).
     */
    private static Lease lease(Response fields, String inputs, String worker, String token) {
        String webhook = fields.get(3).toString();
        JobSpec spec = new JobSpec(fields.get(1).toString(), fields.get(2).toInteger(),
                webhook.isEmpty() ? Optional.empty() : Optional.of(webhook), inputs.isEmpty() ? List.of() : read(inputs, INPUTS));
        int attempts = fields.get(4).toInteger();
        Job job = new Job(fields.get(0).toString(), JobState.RUNNING, spec, attempts, Optional.of(worker), 0,
                JobJson.errors(fields.get(5).toString()), JobJson.outputs(fields.get(6).toString()),
                Instant.ofEpochMilli(fields.get(7).toLong()), Optional.of(Instant.ofEpochMilli(fields.get(8).toLong())),
                Optional.empty(), "1".equals(fields.get(9).toString()));
        return new Lease(job, worker, attempts, token);
    }

    private static String fraction(double progress) {
        return Double.toString(Math.max(0, Math.min(1, progress)));
    }

    private static Optional<Instant> instant(String millis) {
        return millis == null ? Optional.empty() : Optional.of(Instant.ofEpochMilli(Long.parseLong(millis)));
    }

    private static Job withInputs(Job job, List<JobInput> inputs) {
        JobSpec spec = new JobSpec(job.spec().prompt(), job.spec().priority(), job.spec().webhook(), inputs);
        return new Job(job.id(), job.state(), spec, job.attempts(), job.worker(), job.progress(), job.errors(),
                job.outputs(), job.createdAt(), job.startedAt(), job.finishedAt(), job.cancelRequested());
    }

    /** Events from jobs.lua carry epoch milliseconds; the workers' own carry their instant as ISO text. */
    private static Instant at(JsonNode at) {
        return at.isTextual() ? Instant.parse(at.asText()) : Instant.ofEpochMilli(at.asLong());
    }

    /**
     * Written field by field: a tree built and serialized for each of a job's events cost a tenth of the CPU of the
     * thread running the job.
     */
    private static String eventJson(JobEvent event) {
        StringWriter text = new StringWriter(event.json().length() + 128);
        try (JsonGenerator json = JSON.getFactory().createGenerator(text)) {
            json.writeStartObject();
            json.writeStringField("jobId", event.jobId());
            json.writeStringField("at", event.at().toString());
            json.writeStringField("type", event.type());
            json.writeStringField("json", event.json());
            json.writeEndObject();
        } catch (IOException e) {
            throw new UncheckedIOException("a StringWriter does not fail", e);
        }
        return text.toString();
    }

    private static String write(Object value) {
        try {
            return JSON.writeValueAsString(value);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException("cannot write " + value + " as JSON", e);
        }
    }

    private static <T> T read(String json, TypeReference<T> type) {
        try {
            return JSON.readValue(json, type);
        } catch (JsonProcessingException e) {
            throw new JobStoreException("unreadable stored input files", e);
        }
    }

    private static String script() {
        try (InputStream in = RedisJobStore.class.getResourceAsStream("jobs.lua")) {
            if (in == null) {
                throw new IllegalStateException("jobs.lua is missing from the jar");
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String sha1(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-1").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
