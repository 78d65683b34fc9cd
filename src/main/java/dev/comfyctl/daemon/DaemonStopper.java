package dev.comfyctl.daemon;

import dev.comfyctl.process.ProcessTree;

import java.time.Duration;

/**
 * Ends a background daemon the way systemd would: SIGTERM, on which it stops ComfyUI and then itself;
 * SIGKILL to whatever of it is left after ComfyUI's grace period and a margin.
 */
public final class DaemonStopper {
    private static final Duration MARGIN = Duration.ofSeconds(10);

    private DaemonStopper() {
    }

    /** @return true when the daemon and everything it started are gone */
    public static boolean stop(DaemonInfo daemon, Duration grace) {
        return ProcessTree.terminate(daemon.pid(), grace.plus(MARGIN)).survivors().isEmpty();
    }
}
