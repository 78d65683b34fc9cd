package dev.comfyctl.supervisor;

import dev.comfyctl.process.ProcessInfo;
import dev.comfyctl.process.ProcessTree;
import dev.comfyctl.process.StopResult;
import dev.comfyctl.process.StrayProcesses;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;

/** ComfyUI processes of an install that nobody supervises: found by their command line, stopped with their tree. */
public final class Strays {

    /** One stray and what stopping it took. */
    public record Stopped(ProcessInfo process, StopResult result) {
        public String describe() {
            return "pid " + process.pid() + (result.forced() ? " killed after the grace period, " : " stopped, ")
                    + result.took().toMillis() + " ms" + (result.survivors().isEmpty() ? "" : "; SURVIVORS " + result.survivors());
        }
    }

    private Strays() {
    }

    public static List<ProcessInfo> find(Path comfyDir) {
        return StrayProcesses.find(comfyDir);
    }

    /** SIGTERM to each stray's whole tree, SIGKILL after {@code grace}. */
    public static List<Stopped> stopAll(Path comfyDir, Duration grace) {
        return find(comfyDir).stream()
                .map(stray -> new Stopped(stray, ProcessTree.terminate(stray.pid(), grace)))
                .toList();
    }
}
