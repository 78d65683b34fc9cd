package dev.comfyctl.install;

import java.util.List;

/** What an installation did; {@link #succeeded()} is false when anything failed. */
public record InstallReport(int nodesInstalled, int nodesSkipped, int modelsDownloaded, int modelsSkipped, int planned,
                            List<Failure> failures) {

    /** One component that failed: {@code kind} is "custom node" or "model". */
    public record Failure(String kind, String name, String error) {
    }

    public InstallReport {
        failures = List.copyOf(failures);
    }

    public boolean succeeded() {
        return failures.isEmpty();
    }

    /** One line for people: the counts, then what failed. */
    public String summary() {
        String counts = "custom nodes: " + nodesInstalled + " installed, " + nodesSkipped + " up to date; models: "
                + modelsDownloaded + " downloaded, " + modelsSkipped + " present"
                + (planned > 0 ? "; " + planned + " to do (dry run)" : "");
        if (failures.isEmpty()) {
            return counts;
        }
        return counts + "; " + failures.size() + " failed: " + String.join(", ", failures.stream()
                .map(failure -> failure.kind() + " " + failure.name()).toList());
    }
}
