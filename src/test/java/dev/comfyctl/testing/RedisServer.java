package dev.comfyctl.testing;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A real {@code redis-server} (Debian's package; {@code ./test.sh} installs it) on a free loopback port, its data
 * in a directory of its own with the append-only file on, so that {@link #kill()} (SIGKILL) then {@link #start()}
 * finds every acknowledged write again. {@link #close()} kills it.
 */
public final class RedisServer implements AutoCloseable {
    private static final Duration READY_TIMEOUT = Duration.ofSeconds(20);

    private final Path dir;
    private final int port;
    private Process process;

    private RedisServer(Path dir, int port) {
        this.dir = dir;
        this.port = port;
    }

    /** Starts one in {@code dir} (created if needed). */
    public static RedisServer start(Path dir) {
        RedisServer server = new RedisServer(dir, Ports.free());
        server.start();
        return server;
    }

    public int port() {
        return port;
    }

    /** {@code redis://127.0.0.1:<port>/0}, what QUEUE_URL takes. */
    public URI url() {
        return URI.create("redis://127.0.0.1:" + port + "/0");
    }

    /**
     * Starts it again on the same port and data directory (after {@link #kill()}), and waits until it answers
     * PING, which it does only once the append-only file is loaded.
     *
     * @throws IllegalStateException when it exits or does not answer in time, with the end of its log
     */
    public synchronized void start() {
        if (process != null && process.isAlive()) {
            return;
        }
        try {
            Files.createDirectories(dir);
            process = new ProcessBuilder(List.of("redis-server", "--port", Integer.toString(port), "--bind", "127.0.0.1",
                    "--dir", dir.toString(), "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
                    "--daemonize", "no", "--logfile", dir.resolve("redis.log").toString()))
                    .redirectErrorStream(true).redirectOutput(dir.resolve("redis-stdout.log").toFile()).start();
        } catch (IOException e) {
            throw new IllegalStateException("cannot run redis-server (install Debian's redis-server: ./test.sh does)", e);
        }
        awaitReady();
    }

    /** SIGKILL: no shutdown save, no goodbye to clients; what the append-only file already holds survives. */
    public synchronized void kill() {
        if (process == null) {
            return;
        }
        process.destroyForcibly();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException("redis-server pid " + process.pid() + " did not die on SIGKILL");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while killing redis-server", e);
        }
    }

    /** Empties every database: a clean slate between tests sharing one server. */
    public void flushAll() {
        if (!"+OK".equals(command("FLUSHALL"))) {
            throw new IllegalStateException("FLUSHALL failed on redis-server port " + port);
        }
    }

    @Override
    public void close() {
        kill();
    }

    private void awaitReady() {
        Instant deadline = Instant.now().plus(READY_TIMEOUT);
        while (Instant.now().isBefore(deadline)) {
            if (!process.isAlive()) {
                throw new IllegalStateException("redis-server exited with code " + process.exitValue() + ": " + log());
            }
            if (answersPing()) {
                return;
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while waiting for redis-server", e);
            }
        }
        throw new IllegalStateException("redis-server on port " + port + " did not answer PING within " + READY_TIMEOUT
                + ": " + log());
    }

    private boolean answersPing() {
        try {
            return "+PONG".equals(command("PING"));
        } catch (UncheckedIOException notYet) {
            // Refused until it listens; -LOADING until the append-only file is read.
            return false;
        }
    }

    /** Sends one inline command and returns the first line of the answer. */
    private String command(String inline) {
        try (Socket socket = new Socket()) {
            socket.connect(new InetSocketAddress("127.0.0.1", port), 500);
            socket.setSoTimeout(5000);
            OutputStream out = socket.getOutputStream();
            out.write((inline + "\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            return new BufferedReader(new InputStreamReader(socket.getInputStream(), StandardCharsets.US_ASCII)).readLine();
        } catch (IOException e) {
            throw new UncheckedIOException("redis-server on port " + port + " did not answer " + inline, e);
        }
    }

    private String log() {
        try {
            Path file = dir.resolve("redis.log");
            String text = Files.exists(file) ? Files.readString(file) : Files.readString(dir.resolve("redis-stdout.log"));
            return text.length() <= 2000 ? text : text.substring(text.length() - 2000);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
