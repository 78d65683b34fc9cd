package dev.comfyctl.process;

import java.time.Duration;
import java.util.List;

/**
 * What stopping a process tree did.
 *
 * @param wasRunning whether any process of the tree existed when the stop began
 * @param forced     whether some process outlived the grace period (or appeared during it) and got SIGKILL
 * @param took       wall time of the whole stop, including the final check
 * @param signalled  pids that were sent a signal, in the order they were first signalled
 * @param survivors  pids still alive after SIGKILL and the final wait; normally empty. A survivor is a
 *                   process in uninterruptible sleep or one this user may not signal.
 */
public record StopResult(boolean wasRunning, boolean forced, Duration took, List<Long> signalled, List<Long> survivors) {

    public StopResult {
        signalled = List.copyOf(signalled);
        survivors = List.copyOf(survivors);
    }

    /** @return true when nothing of the tree is left running */
    public boolean clean() {
        return survivors.isEmpty();
    }
}
