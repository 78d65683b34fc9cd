import dev.comfyctl.jobs.JobSpec;
import dev.comfyctl.jobs.JobStore;
import dev.comfyctl.jobs.Lease;
import dev.comfyctl.jobs.RedisJobStore;
import dev.comfyctl.jobs.SqliteJobStore;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Redis;
import io.vertx.redis.client.Request;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.Statement;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The job stores' share of a job: enqueue + claim + succeed per second through each backend, with 4 workers
 * claiming while 2 threads enqueue, beside the floor of the same storage in the same run (SQLite: three bare
 * commits per job with the store's pragmas; Redis: three bare round trips per job from 4 threads).
 * Run by bench/jobs-store.sh: java -cp target/comfyctl.jar bench/JobStoreBench.java DIR REDIS_URL JOBS
 */
public class JobStoreBench {
    static final int WORKERS = 4;
    /** Submissions arrive concurrently in the daemon too (one blocking call per POST /jobs). */
    static final int PRODUCERS = 2;
    static final String PROMPT = "{\"3\":{\"class_type\":\"EmptyImage\",\"inputs\":{\"width\":64,\"height\":64,\"batch_size\":1,\"color\":0}},"
            + "\"9\":{\"class_type\":\"SaveImage\",\"inputs\":{\"images\":[\"3\",0],\"filename_prefix\":\"bench\"}}}";

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        URI redisUrl = URI.create(args[1]);
        int jobs = Integer.parseInt(args[2]);
        Vertx vertx = Vertx.vertx();
        try {
            // Warm-up of each path (JIT, file creation), then the measured runs.
            sqliteFloor(dir.resolve("warm-floor.db"), jobs / 4, "FULL");
            run(new SqliteJobStore(dir.resolve("warm.db"), 3), jobs / 4);
            redisFloor(vertx, redisUrl, jobs / 4);
            run(new RedisJobStore(vertx, redisUrl, 3), jobs / 4);

            double sqliteFull = sqliteFloor(dir.resolve("floor-full.db"), jobs, "FULL");
            double sqliteNormal = sqliteFloor(dir.resolve("floor-normal.db"), jobs, "NORMAL");
            double sqlite = run(new SqliteJobStore(dir.resolve("jobs.db"), 3), jobs);
            double redisFloor = redisFloor(vertx, redisUrl, jobs);
            double redis = run(new RedisJobStore(vertx, redisUrl, 3), jobs);

            System.out.printf("%-34s %10s  %-48s %s%n", "figure", "jobs/s", "baseline (same run)", "ratio");
            System.out.printf("%-34s %10.0f  %-48s %.2fx%n", "SQLite store, 4 workers", sqlite,
                    String.format("3 bare commits/job, FULL %.0f, NORMAL %.0f", sqliteFull, sqliteNormal), sqlite / sqliteFull);
            System.out.printf("%-34s %10.0f  %-48s %.2fx%n", "Redis store, 4 workers", redis,
                    String.format("3 bare round trips/job, 4 threads %.0f", redisFloor), redis / redisFloor);
            System.out.printf("%-34s %10s  %s%n", "end-to-end goals (bench/jobs.sh)", "", ">= 500 jobs/s embedded, >= 1000 jobs/s Redis");
            System.out.printf("per job in the store: SQLite %.2f ms, Redis %.2f ms (wall time / jobs, %d jobs each)%n",
                    1000 / sqlite, 1000 / redis, jobs);
        } finally {
            vertx.close().await();
        }
    }

    /** Jobs per second from the first enqueue to the last success: PRODUCERS submitters, WORKERS claimers. */
    static double run(JobStore store, int jobs) throws Exception {
        try (store) {
            AtomicInteger done = new AtomicInteger();
            AtomicInteger submitted = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(WORKERS + PRODUCERS);
            long start = System.nanoTime();
            List<Future<?>> tasks = new ArrayList<>();
            for (int p = 0; p < PRODUCERS; p++) {
                tasks.add(pool.submit(() -> {
                    while (submitted.getAndIncrement() < jobs) {
                        store.enqueue(new JobSpec(PROMPT, 0, Optional.empty(), List.of()));
                    }
                    return null;
                }));
            }
            for (int w = 0; w < WORKERS; w++) {
                String worker = "bench-w" + w;
                tasks.add(pool.submit(() -> {
                    while (done.get() < jobs) {
                        Optional<Lease> lease = store.claim(worker, Duration.ofSeconds(60), Duration.ofMillis(200));
                        if (lease.isPresent()) {
                            if (!store.succeed(lease.get(), List.of())) {
                                throw new IllegalStateException("a succeed was refused: " + lease.get().jobId());
                            }
                            done.incrementAndGet();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> task : tasks) {
                task.get(10, TimeUnit.MINUTES);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            pool.shutdown();
            return jobs / seconds;
        }
    }

    /** Three committed single-row transactions per job (insert, claim update, success update), one thread. */
    static double sqliteFloor(Path file, int jobs, String synchronous) throws Exception {
        Files.deleteIfExists(file);
        try (Connection connection = DriverManager.getConnection("jdbc:sqlite:" + file)) {
            try (Statement statement = connection.createStatement()) {
                statement.execute("PRAGMA journal_mode=WAL");
                statement.execute("PRAGMA synchronous=" + synchronous);
                statement.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, state TEXT, body TEXT)");
            }
            connection.setAutoCommit(false);
            long start = System.nanoTime();
            try (PreparedStatement insert = connection.prepareStatement("INSERT INTO t (id, state, body) VALUES (?, 'q', ?)");
                 PreparedStatement update = connection.prepareStatement("UPDATE t SET state = ? WHERE id = ?")) {
                for (int i = 0; i < jobs; i++) {
                    insert.setInt(1, i);
                    insert.setString(2, PROMPT);
                    insert.executeUpdate();
                    connection.commit();
                    for (String state : List.of("r", "s")) {
                        update.setString(1, state);
                        update.setInt(2, i);
                        update.executeUpdate();
                        connection.commit();
                    }
                }
            }
            return jobs / ((System.nanoTime() - start) / 1e9);
        }
    }

    /** Three round trips per job (HSET, HSET, HSET of a small hash) from WORKERS threads through one pooled client. */
    static double redisFloor(Vertx vertx, URI url, int jobs) throws Exception {
        Redis redis = Redis.createClient(vertx, url.toString());
        try {
            AtomicInteger next = new AtomicInteger();
            ExecutorService pool = Executors.newFixedThreadPool(WORKERS);
            long start = System.nanoTime();
            List<Future<?>> tasks = new ArrayList<>();
            for (int w = 0; w < WORKERS; w++) {
                tasks.add(pool.submit(() -> {
                    int i;
                    while ((i = next.getAndIncrement()) < jobs) {
                        for (String state : List.of("q", "r", "s")) {
                            redis.send(Request.cmd(Command.HSET).arg("bench:floor:" + i).arg("state").arg(state))
                                    .toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> task : tasks) {
                task.get(10, TimeUnit.MINUTES);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            pool.shutdown();
            return jobs / seconds;
        } finally {
            redis.close();
        }
    }
}
