package dev.comfyctl.process;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Consumer;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Stops a process together with everything it started.
 *
 * <p>The tree of a root pid is its descendants plus every process whose process group or session id
 * is the root's pid, i.e. the group and session the root leads (as a process started by
 * {@link ProcessLauncher} through {@code setsid} does). The second part finds grandchildren that were
 * reparented to init or a subreaper when their parent exited, which {@link ProcessHandle#descendants()}
 * no longer sees. A group or session led by someone else (the caller's own terminal session, say) is
 * never included.
 *
 * <p>Processes are held as {@link ProcessHandle}s, which carry the start time, so a pid reused by an
 * unrelated process during the stop is not signalled.
 */
public final class ProcessTree {

    private static final Logger log = LoggerFactory.getLogger(ProcessTree.class);

    /** How often to look whether signalled processes are gone: a cooperative exit is seen within this. */
    private static final Duration POLL = Duration.ofMillis(5);
    /** How long to wait for the kernel to take SIGKILLed processes away before calling them survivors. */
    private static final Duration KILL_WAIT = Duration.ofMillis(400);

    private ProcessTree() {
    }

    /**
     * Sends SIGTERM to the tree of {@code pid}, waits up to {@code grace} for all of it to exit, then
     * sends SIGKILL to whatever is left (including processes that joined the tree meanwhile) and waits
     * briefly for them to go. Zombies count as gone: their parent, not us, must reap them.
     *
     * <p>Idempotent: a pid with no tree returns {@code wasRunning == false}. If the calling thread is
     * interrupted, the grace period is cut short (survivors are killed at once) and the interrupt flag
     * stays set.
     *
     * @throws IllegalArgumentException if {@code pid} is not positive, is init (1) or is this JVM
     */
    public static StopResult terminate(long pid, Duration grace) {
        if (pid <= 1) {
            throw new IllegalArgumentException("pid " + pid + " <= 1: not a process to stop");
        }
        return terminate(pid, anyRoot -> true, grace, pids -> { });
    }

    /**
     * Like {@link #terminate(long, Duration)} for a root known by handle: when that root has already
     * exited, a different live process now holding its pid is left alone.
     */
    static StopResult terminate(ProcessHandle root, Duration grace, Consumer<List<Long>> beforeKill) {
        return terminate(root.pid(), root::equals, grace, beforeKill);
    }

    private static StopResult terminate(long rootPid, Predicate<ProcessHandle> isRoot, Duration grace,
                                        Consumer<List<Long>> beforeKill) {
        if (rootPid == ProcessHandle.current().pid()) {
            throw new IllegalArgumentException("pid " + rootPid + " is this JVM");
        }
        if (grace.isNegative()) {
            throw new IllegalArgumentException("grace " + grace + " < 0");
        }
        long started = System.nanoTime();
        Map<Long, ProcessHandle> tree = collect(rootPid, isRoot);
        if (tree.isEmpty()) {
            log.debug("No process tree for pid {}", rootPid);
            return new StopResult(false, false, since(started), List.of(), List.of());
        }
        List<Long> signalled = new ArrayList<>(tree.keySet());
        log.info("Sending SIGTERM to pid {} and its tree {}", rootPid, signalled);
        tree.values().forEach(ProcessHandle::destroy);
        boolean interrupted = !awaitGone(tree.values(), grace);

        Map<Long, ProcessHandle> left = new LinkedHashMap<>();
        tree.values().stream().filter(ProcessTree::running).forEach(h -> left.put(h.pid(), h));
        ProcessHandle root = tree.get(rootPid);
        collect(rootPid, root == null ? anyRoot -> false : root::equals).forEach(left::putIfAbsent);
        if (left.isEmpty()) {
            Duration took = since(started);
            log.info("Process tree of pid {} exited after SIGTERM in {} ms", rootPid, took.toMillis());
            return new StopResult(true, false, took, signalled, List.of());
        }
        left.keySet().stream().filter(p -> !signalled.contains(p)).forEach(signalled::add);
        log.warn("Sending SIGKILL to {} of the tree of pid {}: still running after {} ms{}", left.keySet(), rootPid,
                since(started).toMillis(), interrupted ? " (interrupted)" : "");
        beforeKill.accept(List.copyOf(left.keySet()));
        left.values().forEach(ProcessHandle::destroyForcibly);

        // The final check is bounded and short, so it runs even when interrupted, keeping the report true.
        boolean wasInterrupted = Thread.interrupted();
        try {
            awaitGone(left.values(), KILL_WAIT);
        } finally {
            if (wasInterrupted) {
                Thread.currentThread().interrupt();
            }
        }
        List<Long> survivors = left.values().stream().filter(ProcessTree::running).map(ProcessHandle::pid)
                .collect(Collectors.toList());
        if (!survivors.isEmpty()) {
            log.error("Processes {} of the tree of pid {} survived SIGKILL (uninterruptible or not ours to signal)",
                    survivors, rootPid);
        }
        return new StopResult(true, true, since(started), signalled, survivors);
    }

    /**
     * The live tree of {@code rootPid}, root first. A live process holding {@code rootPid} that
     * {@code isRoot} rejects is a reuse of the number after the root exited: the kernel frees a pid only
     * once no process group or session refers to it, so then nothing of the old tree is left.
     */
    static Map<Long, ProcessHandle> collect(long rootPid, Predicate<ProcessHandle> isRoot) {
        Map<Long, ProcessHandle> tree = new LinkedHashMap<>();
        Optional<ProcessHandle> current = ProcessHandle.of(rootPid);
        if (current.isPresent()) {
            ProcessHandle root = current.get();
            if (!isRoot.test(root)) {
                return tree;
            }
            if (running(root)) {
                tree.put(rootPid, root);
            }
            root.descendants().filter(ProcessTree::running).forEach(h -> tree.putIfAbsent(h.pid(), h));
        }
        for (long pid : groupAndSessionMembers(rootPid)) {
            ProcessHandle.of(pid).filter(ProcessTree::running).ifPresent(h -> tree.putIfAbsent(pid, h));
        }
        tree.remove(ProcessHandle.current().pid());
        return tree;
    }

    private static List<Long> groupAndSessionMembers(long leader) {
        List<Long> members = new ArrayList<>();
        try (DirectoryStream<Path> proc = Files.newDirectoryStream(Path.of("/proc"), ProcessTree::isPidDirectory)) {
            for (Path dir : proc) {
                long pid = Long.parseLong(dir.getFileName().toString());
                ProcStat.read(pid)
                        .filter(s -> s.processGroup() == leader || s.session() == leader)
                        .ifPresent(s -> members.add(pid));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot list /proc to find the process group of pid " + leader, e);
        }
        return members;
    }

    static boolean isPidDirectory(Path path) {
        String name = path.getFileName().toString();
        return !name.isEmpty() && name.chars().allMatch(Character::isDigit);
    }

    /** Alive and not a zombie; a zombie whose parent is this JVM is reaped by the JDK within moments. */
    static boolean running(ProcessHandle handle) {
        if (!handle.isAlive()) {
            return false;
        }
        Optional<ProcStat> stat = ProcStat.read(handle.pid());
        return stat.isPresent() && (!stat.get().hasExited() || stat.get().ppid() == ProcessHandle.current().pid());
    }

    /** @return false only if interrupted while some were still running */
    private static boolean awaitGone(Iterable<ProcessHandle> handles, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            boolean anyRunning = false;
            for (ProcessHandle handle : handles) {
                if (running(handle)) {
                    anyRunning = true;
                    break;
                }
            }
            long remaining = deadline - System.nanoTime();
            if (!anyRunning || remaining <= 0) {
                return true;
            }
            try {
                Thread.sleep(Math.max(1, Math.min(POLL.toMillis(), remaining / 1_000_000)));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return false;
            }
        }
    }

    private static Duration since(long startNanos) {
        return Duration.ofNanos(System.nanoTime() - startNanos);
    }
}
