package dev.comfyctl.install;

import java.util.ArrayList;
import java.util.List;

/** What an installation did; {@link #succeeded()} is false when anything failed. */
public record InstallReport(int nodesInstalled, int nodesSkipped, int modelsDownloaded, int modelsSkipped, int planned,
                            List<Failure> failures) {

    static final String NODE = "custom node";
    static final String MODEL = "model";

    /** One component that failed: {@code kind} is "custom node" or "model". */
    public record Failure(String kind, String name, String error) {
    }

    public InstallReport {
        failures = List.copyOf(failures);
    }

    /** Both reports' counts and failures, this one's first. */
    public InstallReport plus(InstallReport other) {
        List<Failure> both = new ArrayList<>(failures);
        both.addAll(other.failures);
        return new InstallReport(nodesInstalled + other.nodesInstalled, nodesSkipped + other.nodesSkipped,
                modelsDownloaded + other.modelsDownloaded, modelsSkipped + other.modelsSkipped, planned + other.planned, both);
    }

    public boolean succeeded() {
        return failures.isEmpty();
    }

    /** One line for people: the counts, then what failed. */
    public String summary() {
        boolean nodes = nodesInstalled + nodesSkipped > 0 || failures.stream().anyMatch(failure -> failure.kind().equals(NODE));
        boolean models = modelsDownloaded + modelsSkipped > 0 || failures.stream().anyMatch(failure -> failure.kind().equals(MODEL));
        List<String> parts = new ArrayList<>();
        if (nodes) {
            parts.add("custom nodes: " + nodesInstalled + " installed, " + nodesSkipped + " up to date");
        }
        if (models) {
            parts.add("models: " + modelsDownloaded + " downloaded, " + modelsSkipped + " present");
        }
        if (planned > 0) {
            parts.add(planned + " to do (dry run)");
        }
        String counts = parts.isEmpty() ? "nothing to install" : String.join("; ", parts);
        if (failures.isEmpty()) {
            return counts;
        }
        return counts + "; " + failures.size() + " failed: " + String.join(", ", failures.stream()
                .map(failure -> failure.kind() + " " + failure.name()).toList());
    }
}
