import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.config.Config;
import dev.comfyctl.config.ConfigLoader;
import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.daemon.DaemonLauncher;
import dev.comfyctl.jobs.Job;
import dev.comfyctl.jobs.JobBackend;
import dev.comfyctl.jobs.JobSpec;
import dev.comfyctl.jobs.JobState;
import dev.comfyctl.jobs.JobStore;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;

import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.WebSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * End-to-end job queue figures against fake ComfyUIs that complete prompts at once ({@code bench/FastComfy.java},
 * started by each daemon through COMFYUI_START_CMD): jobs/s through the embedded queue (1 daemon, 1 instance) and
 * through Redis (1 daemon with WORKERS=comfyui:4 on 4 mock GPUs: seed 004's 4 workers; then 4 daemons, one instance
 * each), per-job dispatch overhead against the same fakes driven directly in the same run (WebSocket, POST /prompt,
 * /view: what a worker does, without the queue), and a soak of many jobs on Redis with worker processes
 * killed at random (kill -9), counting jobs lost and results kept twice.
 * Run by bench/jobs.sh, one JVM per figure, as a daemon runs one backend (in one JVM, the Redis figures ran with
 * code the JIT had compiled while the embedded figure ran), with a daemon's JVM options (DaemonLauncher.JVM_OPTIONS,
 * which {@code JobsBench jvm-options} prints):
 * java OPTIONS -cp target/comfyctl.jar:CLASSES JobsBench DIR REDIS_URL JOBS SOAK_JOBS REDIS_PID embedded|workers|fleet|soak
 * (CLASSES holds this class and FastComfy, which the daemons start on the same class path)
 */
public class JobsBench {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    /**
     * Submits the jobs: one event loop with several POSTs in flight, so that the load costs less of the cores than
     * the daemon it measures (a thread per request in flight with the JDK's client cost 0.4 ms of CPU per job).
     */
    static final Vertx LOAD_VERTX = Vertx.vertx(new VertxOptions().setEventLoopPoolSize(1));
    static final io.vertx.core.http.HttpClient LOAD = LOAD_VERTX.createHttpClient();
    /** Every submission runs on this one context: requests begun on others would cross from one to another. */
    static final io.vertx.core.Context LOAD_CONTEXT = LOAD_VERTX.getOrCreateContext();
    /** A POST /jobs unanswered this long fails the run, rather than leaving it waiting. */
    static final long SUBMIT_TIMEOUT_MILLIS = 30_000;
    static final int IN_FLIGHT = 8;
    /** Requests of the direct baseline sent again (see send). */
    static final AtomicInteger RESENT = new AtomicInteger();
    /** Sockets of the direct baseline opened again (see greetedSocket). */
    static final AtomicInteger REOPENED = new AtomicInteger();
    static final int WARM_UP_ROUNDS = 30;
    static final double SETTLED = 0.05;
    static final String PROMPT = "{\"1\":{\"class_type\":\"EmptyImage\",\"inputs\":{\"width\":8,\"height\":8,\"batch_size\":1,\"color\":0}},"
            + "\"2\":{\"class_type\":\"SaveImage\",\"inputs\":{\"images\":[\"1\",0],\"filename_prefix\":\"bench\"}}}";

    static Path dir;
    static URI redis;
    static long redisPid;

    /**
     * A figure: its rate, and the CPU time the benchmark's processes spent per job (or prompt) meanwhile: this JVM
     * (the daemons and the clients), the fakes, Redis; and the cores that went elsewhere meanwhile, on average: to
     * other processes of the machine, and stolen by the host from this virtual machine. The same build's rate moves
     * by half between runs on a shared machine; these say how much of the cores the figure had.
     */
    record Measured(double rate, double jvmMs, double fakesMs, double redisMs, double otherCores, double stolenCores) {
        double cpuMs() {
            return jvmMs + fakesMs + redisMs;
        }

        String split() {
            return String.format("%.2f + %.2f + %.2f", jvmMs, fakesMs, redisMs);
        }

        String elsewhere() {
            return String.format("%.2f + %.2f", otherCores, stolenCores);
        }
    }

    /**
     * CPU time so far, in nanoseconds: this JVM (daemons, clients), its child processes (the fakes), Redis; the
     * machine's time in processes and the time the host stole from it ({@code /proc/stat}).
     */
    static long[] cpuNanos() {
        long jvm = java.lang.management.ManagementFactory.getPlatformMXBean(com.sun.management.OperatingSystemMXBean.class)
                .getProcessCpuTime();
        long fakes = ProcessHandle.current().descendants().mapToLong(process -> cpuNanos(process.pid())).sum();
        long[] machine = machineNanos();
        return new long[] {jvm, fakes, cpuNanos(redisPid), machine[0], machine[1]};
    }

    /**
     * The machine's time in processes (user, nice, system) and its stolen time, from the first line of /proc/stat.
     * Interrupts are left out: the loopback traffic of the benchmark's own processes is counted there.
     */
    static long[] machineNanos() {
        try {
            String[] ticks = Files.readAllLines(Path.of("/proc/stat")).get(0).trim().split("\\s+");
            long busy = 0;
            for (int field : new int[] {1, 2, 3}) {
                busy += Long.parseLong(ticks[field]);
            }
            return new long[] {busy * 10_000_000L, Long.parseLong(ticks[8]) * 10_000_000L};
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static long cpuNanos(long pid) {
        return cpuNanos(Path.of("/proc", Long.toString(pid), "stat"));
    }

    /** The CPU time a /proc stat file (of a process or a thread) gives. */
    static long cpuNanos(Path statFile) {
        try {
            String stat = Files.readString(statFile);
            String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
            // utime and stime, in clock ticks of 10 ms (USER_HZ is 100 on Linux).
            return (Long.parseLong(fields[11]) + Long.parseLong(fields[12])) * 10_000_000L;
        } catch (Exception e) {
            // A process that ended meanwhile: none does while a figure runs.
            return 0;
        }
    }

    static Measured measured(double rate, long[] before, int count) {
        long[] after = cpuNanos();
        long[] spent = new long[after.length];
        Arrays.setAll(spent, i -> after[i] - before[i]);
        double wallNanos = count / rate * 1e9;
        return new Measured(rate, spent[0] / 1e6 / count, spent[1] / 1e6 / count, spent[2] / 1e6 / count,
                Math.max(0, spent[3] - spent[0] - spent[1] - spent[2]) / wallNanos, spent[4] / wallNanos);
    }

    public static void main(String[] args) {
        if (args.length == 1 && args[0].equals("jvm-options")) {
            System.out.println(String.join(" ", DaemonLauncher.JVM_OPTIONS));
            System.exit(0);
        }
        try {
            run(args);
            System.exit(0);
        } catch (Exception e) {
            e.printStackTrace();
            // Closes the daemons (shutdown hook), so no fake ComfyUI is left behind.
            System.exit(1);
        }
    }

    /**
     * One figure: the fakes of {@code daemons} driven directly by {@code clients}, then the same number of jobs through
     * the queue; each once the JIT has settled on it. Closes the daemons.
     */
    static void measure(String label, List<Daemon> daemons, int clients, int jobs, int goal, List<String> rows,
                        List<String> splits) throws Exception {
        warmUp(label + ", direct", () -> direct(ports(daemons), jobs, clients));
        Measured direct = direct(ports(daemons), jobs, clients);
        warmUp(label + ", queue", () -> throughQueue(daemons, jobs));
        Measured queued = throughQueue(daemons, jobs);
        daemons.forEach(Daemon::close);
        splits.add(split(label, queued, direct));
        rows.add(row(label, queued, direct, goal));
    }

    /**
     * Runs {@code round} untimed until the JIT has settled on it, in this JVM and in the fakes: a round in which their
     * compilers ran for less than {@link #SETTLED} of its wall time, or {@link #WARM_UP_ROUNDS} rounds. C2 compiles a
     * method after thousands of calls, so one called once a job is compiled only after 5,000 to 15,000 jobs (more
     * while the compile queue is long): with one round of warm-up, C2 still took 0.5 to 1 ms of CPU a job in the
     * timed round, a quarter of it. A daemon serving jobs for hours pays that once.
     */
    static void warmUp(String label, java.util.concurrent.Callable<Measured> round) throws Exception {
        for (int rounds = 1; rounds <= WARM_UP_ROUNDS; rounds++) {
            long compiling = compilingNanos();
            long start = System.nanoTime();
            round.call();
            double share = (double) (compilingNanos() - compiling) / (System.nanoTime() - start);
            if (share < SETTLED || rounds == WARM_UP_ROUNDS) {
                System.err.printf("%s: warmed up in %d round(s), the JIT compiling %.0f%% of the last%n", label, rounds, 100 * share);
                return;
            }
        }
    }

    /** CPU time of the JIT's compiler threads so far, in this JVM and in the fakes (its child processes), in nanoseconds. */
    static long compilingNanos() {
        long nanos = 0;
        List<Long> pids = new ArrayList<>(List.of(ProcessHandle.current().pid()));
        ProcessHandle.current().descendants().forEach(process -> pids.add(process.pid()));
        for (long pid : pids) {
            try (java.util.stream.Stream<Path> threads = Files.list(Path.of("/proc", Long.toString(pid), "task"))) {
                for (Path thread : threads.toList()) {
                    if (Files.readString(thread.resolve("comm")).matches("C[12] CompilerThre.*\\s*")) {
                        nanos += cpuNanos(thread.resolve("stat"));
                    }
                }
            } catch (java.io.IOException | java.io.UncheckedIOException e) {
                // A process or thread that ended meanwhile: its compiling is over.
            }
        }
        return nanos;
    }

    static void run(String[] args) throws Exception {
        dir = Path.of(args[0]);
        redis = URI.create(args[1]);
        int jobs = Integer.parseInt(args[2]);
        int soakJobs = Integer.parseInt(args[3]);
        redisPid = Long.parseLong(args[4]);
        String figure = args[5];
        if (figure.equals("soak")) {
            soak(soakJobs);
            return;
        }
        List<String> rows = new ArrayList<>();
        List<String> splits = new ArrayList<>();
        // Each figure and its baseline is measured once the JIT has compiled their code (see warmUp): cold, the first
        // thousands of prompts run at half speed on either side, and C2 compiling meanwhile is counted as CPU time per job.
        switch (figure) {
            // Embedded: one daemon, one instance, SQLite, JOBS_PER_INSTANCE=2 (the default).
            case "embedded" -> measure("embedded (SQLite), 1 instance, 2 slots", daemons(1, 1, "", "embedded"), 2, jobs, 500,
                    rows, splits);
            // Redis, 4 workers: one daemon, WORKERS=comfyui:4 on 4 mock GPUs, each instance a consumer of the group.
            case "workers" -> measure("Redis, 1 daemon, 4 workers, 2 slots each", daemons(1, 4, redis.toString(), "workers"), 8,
                    jobs, 1000, rows, splits);
            // Redis, four daemons sharing one queue, one instance each.
            case "fleet" -> measure("Redis, 4 daemons, 1 worker each, 2 slots", daemons(4, 1, redis.toString(), "fleet"), 8, jobs,
                    1000, rows, splits);
            default -> throw new IllegalArgumentException("no figure named " + figure + ": embedded, workers, fleet or soak");
        }

        System.out.printf("%-42s %7s  %-22s %6s  %12s  %-19s  %s%n", "figure", "jobs/s", "baseline: fakes direct", "ratio",
                "overhead/job", "CPU/job queue|direct", "goal");
        rows.forEach(System.out::println);
        System.out.println();
        System.out.println("CPU time per job (queue) or prompt (direct), in ms: this JVM (daemons and clients) + fakes + Redis, of "
                + Runtime.getRuntime().availableProcessors() + " cores; elsewhere meanwhile, in cores: other processes + stolen by the host");
        splits.forEach(System.out::println);
        System.out.println();
        if (RESENT.get() > 0) {
            System.out.println("Requests of the direct baseline sent again after the JDK client's pool race: " + RESENT.get());
        }
        if (REOPENED.get() > 0) {
            System.out.println("Sockets of the direct baseline opened again for want of a greeting: " + REOPENED.get());
        }
    }

    static String split(String name, Measured queue, Measured direct) {
        return String.format("%-42s queue %-20s direct %-20s elsewhere %s | %s", name, queue.split(), direct.split(),
                queue.elsewhere(), direct.elsewhere());
    }

    static String row(String name, Measured queue, Measured direct, double goal) {
        double overheadMs = 1000.0 / queue.rate() - 1000.0 / direct.rate();
        return String.format("%-42s %7.0f  %-22s %5.2fx  %9.2f ms  %-19s  >= %.0f jobs/s %s, < 5 ms %s", name, queue.rate(),
                String.format("%.0f prompts/s", direct.rate()), queue.rate() / direct.rate(), overheadMs,
                String.format("%.2f | %.2f ms", queue.cpuMs(), direct.cpuMs()), goal, queue.rate() >= goal ? "MET" : "NOT MET",
                overheadMs < 5 ? "MET" : "NOT MET");
    }

    /** Daemons in this JVM, each with {@code instances} fake ComfyUIs of its own, ready. */
    static List<Daemon> daemons(int count, int instances, String queueUrl, String name) throws Exception {
        List<Daemon> daemons = new ArrayList<>();
        // Closing a daemon stops its ComfyUIs: also when the run is interrupted.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> daemons.forEach(Daemon::close)));
        for (int i = 0; i < count; i++) {
            Path home = dir.resolve(name + "-" + i);
            Map<String, String> env = new HashMap<>(environment(home, queueUrl, install(home.resolve("ComfyUI"))));
            if (instances > 1) {
                env.put("COMFYUI_PORT", Integer.toString(freeRun(instances)));
                env.put("GPU_MOCK_COUNT", Integer.toString(instances));
                env.put("WORKERS", "comfyui:" + instances);
            }
            Daemon daemon = Daemon.start(ConfigLoader.load(env, Map.of()).config(), false);
            daemon.instances().stream().map(instance -> instance.start(event -> { })).toList().forEach(start -> start.join());
            daemons.add(daemon);
        }
        return daemons;
    }

    static final Map<Path, Map<String, String>> ENVIRONMENTS = new HashMap<>();

    /**
     * Free ports are chosen once per home, so a config read again names the same daemon. The fakes compile with C2
     * only, from 1500 calls of a method on: they share the cores with the daemon, and their CPU per job counts in
     * every figure. With C1 only, four fakes took 0.52 to 0.58 ms of CPU a job on Redis with 4 workers; this way 0.32
     * to 0.37. Tiered C2 had four fakes compiling still after 15 rounds of warm-up (60% of a core), and C2 alone
     * from its usual 10,000 calls still compiled in the 15th round, each fake seeing a quarter of the prompts.
     */
    static synchronized Map<String, String> environment(Path home, String queueUrl, Path install) {
        return ENVIRONMENTS.computeIfAbsent(home, h -> {
            Map<String, String> env = new HashMap<>();
            env.put("COMFYCTL_HOME", home.toString());
            env.put("COMFYUI_DIR", install.toString());
            env.put("COMFYUI_PORT", Integer.toString(freePort()));
            env.put("MANAGER_PORT", Integer.toString(freePort()));
            env.put("HEALTH_PORT", "0");
            env.put("QUEUE_URL", queueUrl);
            env.put("GPU_MODE", "mock");
            env.put("IDLE_TIMEOUT_SECONDS", "0");
            env.put("HEALTH_CHECK_INTERVAL_SECONDS", "0");
            env.put("COMFYUI_RESTART_INTERVAL", "0");
            env.put("COMFYUI_STOP_GRACE_SECONDS", "2");
            env.put("COMFYUI_CRASH_BACKOFF_SECONDS", "0");
            env.put("COMFYUI_START_CMD", String.join(" ", ProcessHandle.current().info().command().orElse("java"), "-Xmx128m",
                    "-XX:+UseSerialGC", "-XX:-TieredCompilation", "-XX:CompileThreshold=1500", "-cp", System.getProperty("java.class.path"),
                    "FastComfy"));
            return env;
        });
    }

    /** A ComfyUI folder as the daemon checks it; COMFYUI_START_CMD runs FastComfy in place of its main.py. */
    static Path install(Path comfy) throws Exception {
        for (String folder : List.of("models/checkpoints", "custom_nodes", "input", "output", "temp", "user", "venv/bin")) {
            Files.createDirectories(comfy.resolve(folder));
        }
        Files.writeString(comfy.resolve("main.py"), "# bench/jobs.sh runs bench/FastComfy.java here (COMFYUI_START_CMD)\n");
        Files.writeString(comfy.resolve("requirements.txt"), "torch\n");
        Path python = Path.of(new ProcessBuilder("sh", "-c", "command -v python3").start().inputReader().readLine());
        Files.createSymbolicLink(comfy.resolve("venv/bin/python"), python.toRealPath());
        return comfy;
    }

    static List<Integer> ports(List<Daemon> daemons) {
        return daemons.stream().flatMap(daemon -> daemon.instances().stream()).map(instance -> instance.snapshot().port()).toList();
    }

    /** Prompts/s of the fakes driven the way a worker drives them, {@code concurrency} clients spread over them. */
    static Measured direct(List<Integer> ports, int prompts, int concurrency) throws Exception {
        ExecutorService clients = Executors.newFixedThreadPool(concurrency);
        AtomicInteger left = new AtomicInteger(prompts);
        long[] cpu = cpuNanos();
        long start = System.nanoTime();
        List<Future<?>> done = new ArrayList<>();
        for (int c = 0; c < concurrency; c++) {
            int port = ports.get(c % ports.size());
            done.add(clients.submit(() -> {
                String clientId = "direct-" + java.util.UUID.randomUUID();
                BlockingQueue<JsonNode> messages = new LinkedBlockingQueue<>();
                WebSocket socket = greetedSocket(port, clientId, messages);
                while (left.getAndDecrement() > 0) {
                    String answer = post("http://127.0.0.1:" + port + "/prompt", "{\"prompt\":" + PROMPT + ",\"client_id\":\"" + clientId + "\"}");
                    String promptId = JSON.readTree(answer).path("prompt_id").asText();
                    // The output named by the "executed" message, as a worker takes it when no node was cached.
                    String filename = null;
                    while (true) {
                        JsonNode message = messages.poll(30, TimeUnit.SECONDS);
                        if (message == null) {
                            throw new IllegalStateException("no message from the fake in 30 s");
                        }
                        JsonNode data = message.path("data");
                        if (!promptId.equals(data.path("prompt_id").asText())) {
                            continue;
                        }
                        String type = message.path("type").asText();
                        if (type.equals("executed")) {
                            filename = data.path("output").path("images").get(0).path("filename").asText();
                        } else if (type.equals("executing") && data.path("node").isNull()) {
                            break;
                        }
                    }
                    get("http://127.0.0.1:" + port + "/view?filename=" + filename + "&type=output&subfolder=");
                }
                socket.abort();
                return null;
            }));
        }
        for (Future<?> f : done) {
            f.get();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        clients.shutdown();
        return measured(prompts / seconds, cpu, prompts);
    }

    /**
     * Jobs/s from the first POST /jobs to the last job finished (nothing queued, nothing running), submitting
     * {@link #IN_FLIGHT} at a time, spread over the daemons. Then every job is looked at through the API (the
     * embedded store is the daemon's alone): all must have succeeded.
     */
    static Measured throughQueue(List<Daemon> daemons, int jobs) throws Exception {
        AtomicInteger left = new AtomicInteger(jobs);
        List<String> ids = java.util.Collections.synchronizedList(new ArrayList<>());
        long[] cpu = cpuNanos();
        long start = System.nanoTime();
        List<CompletableFuture<Void>> done = new ArrayList<>();
        for (int t = 0; t < IN_FLIGHT; t++) {
            CompletableFuture<Void> submitter = new CompletableFuture<>();
            URI daemon = URI.create(daemons.get(t % daemons.size()).info().baseUrl());
            LOAD_CONTEXT.runOnContext(onLoop -> submitNext(daemon, left, ids, submitter));
            done.add(submitter);
        }
        for (CompletableFuture<Void> submitter : done) {
            submitter.get();
        }
        String base = daemons.get(0).info().baseUrl();
        while (true) {
            JsonNode running = JSON.readTree(get(base + "/jobs?state=running"));
            if (running.path("depth").asLong() == 0 && running.path("jobs").isEmpty()) {
                break;
            }
            Thread.sleep(20);
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        Measured measured = measured(jobs / seconds, cpu, jobs);
        int succeeded = 0;
        for (String id : ids) {
            succeeded += JSON.readTree(get(base + "/jobs/" + id)).path("state").asText().equals("succeeded") ? 1 : 0;
        }
        if (succeeded != jobs) {
            throw new IllegalStateException(succeeded + " of " + jobs + " jobs succeeded");
        }
        return measured;
    }

    /**
     * A WebSocket to the fake on {@code port} as {@code clientId}, once its greeting came (ComfyUI registers a socket
     * after the handshake: a prompt submitted before would send its messages nowhere). Opened again when the greeting
     * does not come within 5 s, which happened to about one socket in a thousand; counted in {@link #REOPENED}.
     */
    static WebSocket greetedSocket(int port, String clientId, BlockingQueue<JsonNode> messages) throws Exception {
        for (int attempt = 1; ; attempt++) {
            WebSocket socket = HTTP.newWebSocketBuilder().buildAsync(URI.create("ws://127.0.0.1:" + port + "/ws?clientId=" + clientId),
                    new WebSocket.Listener() {
                        final StringBuilder text = new StringBuilder();

                        @Override
                        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
                            text.append(data);
                            if (last) {
                                try {
                                    messages.add(JSON.readTree(text.toString()));
                                } catch (Exception e) {
                                    throw new IllegalStateException(e);
                                }
                                text.setLength(0);
                            }
                            ws.request(1);
                            return null;
                        }
                    }).get(10, TimeUnit.SECONDS);
            while (true) {
                JsonNode greeting = messages.poll(5, TimeUnit.SECONDS);
                if (greeting != null && greeting.path("data").path("sid").asText().equals(clientId)) {
                    return socket;
                }
                if (greeting == null) {
                    socket.abort();
                    if (attempt == 3) {
                        throw new IllegalStateException("the fake on port " + port + " sent no greeting to 3 sockets in a row");
                    }
                    REOPENED.incrementAndGet();
                    break;
                }
            }
        }
    }

    /** POST /jobs while jobs are left, one after the other; {@code done} completes when none is, or one failed. */
    static void submitNext(URI daemon, AtomicInteger left, List<String> ids, CompletableFuture<Void> done) {
        if (left.getAndDecrement() <= 0) {
            done.complete(null);
            return;
        }
        LOAD.request(new RequestOptions().setMethod(HttpMethod.POST).setHost(daemon.getHost()).setPort(daemon.getPort()).setURI("/jobs")
                        .setIdleTimeout(SUBMIT_TIMEOUT_MILLIS))
                .compose(request -> request.putHeader("Content-Type", "application/json").send(Buffer.buffer("{\"prompt\":" + PROMPT + "}")))
                .compose(response -> response.body().map(body -> {
                    if (response.statusCode() / 100 != 2) {
                        throw new IllegalStateException("POST /jobs answered " + response.statusCode() + ": " + body);
                    }
                    return new JsonObject(body).getString("id");
                }))
                .onSuccess(id -> {
                    ids.add(id);
                    submitNext(daemon, left, ids, done);
                })
                .onFailure(done::completeExceptionally);
    }

    /** Worker processes on Redis, one killed (-9) and restarted every few seconds while the jobs run. */
    static void soak(int jobs) throws Exception {
        int workers = 3;
        Path outputs = dir.resolve("soak-outputs");
        List<Map<String, String>> environments = new ArrayList<>();
        for (int i = 0; i < workers; i++) {
            Path home = dir.resolve("soak-" + i);
            Map<String, String> env = new HashMap<>(environment(home, redis.toString(), install(home.resolve("ComfyUI"))));
            env.put("JOBS_OUTPUT_DIR", outputs.toString());
            env.put("JOB_VISIBILITY_SECONDS", "2");
            env.put("JOB_MAX_ATTEMPTS", "50");
            environments.add(env);
        }
        Process[] processes = new Process[workers];
        for (int i = 0; i < workers; i++) {
            processes[i] = serve(environments.get(i), i);
        }
        Vertx vertx = Vertx.vertx();
        Map<String, String> env = environments.get(0);
        Config config = ConfigLoader.load(env, Map.of()).config();
        try (JobBackend backend = JobBackend.open(config, vertx)) {
            JobStore store = backend.store();
            // A fresh soak: the earlier figures' jobs are already finished, only the new ones are counted.
            List<String> ids = new ArrayList<>();
            long start = System.nanoTime();
            for (int i = 0; i < jobs; i++) {
                ids.add(store.enqueue(new JobSpec(PROMPT, 0, Optional.empty(), List.of())).id());
            }
            Random random = new Random(42);
            int kills = 0;
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(20);
            while (System.nanoTime() < deadline && (store.depth() > 0 || !store.list(Optional.of(JobState.RUNNING), 1).isEmpty())) {
                Thread.sleep(3000);
                if (store.depth() > 0) {
                    int victim = random.nextInt(workers);
                    processes[victim].destroyForcibly().waitFor();
                    kills++;
                    processes[victim] = serve(environments.get(victim), victim);
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            int succeeded = 0;
            int failed = 0;
            int lost = 0;
            int keptTwice = 0;
            int reRun = 0;
            for (String id : ids) {
                Job job = store.find(id).orElse(null);
                if (job == null || !job.state().finished()) {
                    lost++;
                    continue;
                }
                if (job.state() == JobState.SUCCEEDED) {
                    succeeded++;
                } else {
                    failed++;
                }
                if (job.attempts() > 1) {
                    reRun++;
                }
                long attemptsWithResults = job.outputs().stream().map(o -> Path.of(o.path()).getName(1)).distinct().count();
                if (job.outputs().size() != (job.state() == JobState.SUCCEEDED ? 1 : 0) || attemptsWithResults > 1) {
                    keptTwice++;
                }
            }
            System.out.printf("soak: %d jobs on Redis, %d worker processes, %d kill -9 (one every 3 s, restarted), %.0f s (%.0f jobs/s)%n",
                    jobs, workers, kills, seconds, jobs / seconds);
            System.out.printf("soak: succeeded %d, failed %d, lost %d (goal 0: %s), results kept twice %d (goal 0: %s), ran again after a kill %d%n",
                    succeeded, failed, lost, lost == 0 ? "MET" : "NOT MET", keptTwice, keptTwice == 0 ? "MET" : "NOT MET", reRun);
        } finally {
            for (Process process : processes) {
                process.destroy();
                process.waitFor(30, TimeUnit.SECONDS);
            }
            vertx.close();
        }
    }

    static Process serve(Map<String, String> env, int index) throws Exception {
        List<String> command = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java")));
        command.addAll(DaemonLauncher.JVM_OPTIONS);
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), "dev.comfyctl.cli.Main", "serve"));
        ProcessBuilder builder = new ProcessBuilder(command)
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("soak-" + index + ".log").toFile()));
        builder.environment().putAll(env);
        return builder.start();
    }

    static String post(String url, String body) throws Exception {
        HttpResponse<String> response = send(HttpRequest.newBuilder(URI.create(url)).header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build());
        if (response.statusCode() / 100 != 2) {
            throw new IllegalStateException("POST " + url + " answered " + response.statusCode() + ": " + response.body());
        }
        return response.body();
    }

    static String get(String url) throws Exception {
        return send(HttpRequest.newBuilder(URI.create(url)).build()).body();
    }

    /**
     * Sends once more when the JDK's client fails a request on a kept-alive connection with "Data received while in
     * pool": a race in the client (the connection's answer to the new request reaches the pool's idle watcher) that
     * came about once in some 100,000 requests of a run, and would otherwise end the run. Counted in {@link #RESENT}.
     */
    static HttpResponse<String> send(HttpRequest request) throws Exception {
        try {
            return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        } catch (java.io.IOException e) {
            for (Throwable cause = e; cause != null; cause = cause.getCause()) {
                if ("Data received while in pool".equals(cause.getMessage())) {
                    RESENT.incrementAndGet();
                    return HTTP.send(request, HttpResponse.BodyHandlers.ofString());
                }
            }
            throw e;
        }
    }

    /** The first of {@code count} consecutive free ports (WORKERS=comfyui:N listens on COMFYUI_PORT + index). */
    static int freeRun(int count) {
        for (int attempt = 0; attempt < 100; attempt++) {
            int first = freePort();
            boolean allFree = first + count - 1 <= 65_535;
            for (int port = first + 1; allFree && port < first + count; port++) {
                try (ServerSocket socket = new ServerSocket(port)) {
                    allFree = socket.getLocalPort() == port;
                } catch (Exception e) {
                    allFree = false;
                }
            }
            if (allFree) {
                return first;
            }
        }
        throw new IllegalStateException("no " + count + " consecutive free ports");
    }

    static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
