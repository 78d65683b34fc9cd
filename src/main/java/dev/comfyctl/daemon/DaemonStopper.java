package dev.comfyctl.daemon;


import java.time.Duration;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/** Ends a background daemon the way systemd would: SIGTERM, which stops ComfyUI and then the daemon. */
public final class DaemonStopper {
    private static final Duration MARGIN = Duration.ofSeconds(10);

    private DaemonStopper() {
    }

    /** @return true when the daemon is gone */
    public static boolean stop(DaemonInfo daemon, Duration grace) {
        Optional<ProcessHandle> process = ProcessHandle.of(daemon.pid());
        if (process.isEmpty()) {
            return true;
        }
        process.get().destroy();
        try {
            process.get().onExit().get(grace.plus(MARGIN).toMillis(), TimeUnit.MILLISECONDS);
            return true;
        } catch (Exception e) {
            return !process.get().isAlive();
        }
    }
}
