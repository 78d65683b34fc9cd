package dev.comfyctl.process;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * A process started by {@link ProcessLauncher}. Closing it stops its whole tree.
 *
 * <p>Thread-safe. {@link #stop(Duration)} may be called any number of times; {@link #close()} acts once.
 */
public final class RunningProcess implements AutoCloseable {

    /** Grace period {@link #close()} gives the tree between SIGTERM and SIGKILL. */
    public static final Duration DEFAULT_GRACE = Duration.ofSeconds(10);

    private final Process process;
    private final LaunchSpec spec;
    private final CompletableFuture<Integer> exitCode;
    private final AtomicBoolean closed = new AtomicBoolean();

    RunningProcess(Process process, LaunchSpec spec) {
        this.process = process;
        this.spec = spec;
        this.exitCode = process.onExit().thenApply(Process::exitValue);
    }

    public long pid() {
        return process.pid();
    }

    public LaunchSpec spec() {
        return spec;
    }

    /** @return whether the launched process itself (not its tree) is still running */
    public boolean isAlive() {
        return process.isAlive();
    }

    /**
     * @return a future completed with the exit code once the launched process has exited and been
     *         reaped; for a death by signal N the code is 128 + N (137 for SIGKILL, 143 for SIGTERM)
     *         as in a shell. Completing or cancelling the returned copy does not affect this process.
     */
    public CompletableFuture<Integer> onExit() {
        return exitCode.copy();
    }

    /**
     * Stops the process and everything it started, see {@link ProcessTree#terminate(long, Duration)}.
     * Returns {@code wasRunning == false} when nothing of the tree is left.
     */
    public StopResult stop(Duration grace) {
        return stop(grace, pids -> { });
    }

    /**
     * Like {@link #stop(Duration)}; {@code beforeKill} is given the pids still running after the grace period
     * just before they get SIGKILL, so that a caller can say so first (the event log records it durably).
     */
    public StopResult stop(Duration grace, Consumer<List<Long>> beforeKill) {
        return ProcessTree.terminate(process.toHandle(), grace, beforeKill);
    }

    /** Stops the tree with {@link #DEFAULT_GRACE} the first time it is called; later calls do nothing. */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        stop(DEFAULT_GRACE);
    }

    @Override
    public String toString() {
        return "RunningProcess[pid=" + pid() + ", command=" + spec.command() + "]";
    }
}
