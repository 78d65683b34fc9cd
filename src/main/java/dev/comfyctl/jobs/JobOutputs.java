package dev.comfyctl.jobs;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Optional;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Where job outputs are stored: {@code <dir>/<job id>/<attempt>/[<subfolder>/]<file>}. Each attempt writes its
 * own folder, so an attempt that ran twice (at-least-once delivery) never overwrites the result that was kept, and
 * the losing attempt's folder is deleted. For a fleet the directory is shared, so any daemon serves any output.
 */
public final class JobOutputs {
    private static final Pattern UNSAFE = Pattern.compile("[^A-Za-z0-9._-]");
    private final Path dir;

    public JobOutputs(Path dir) {
        this.dir = dir.toAbsolutePath().normalize();
    }

    public Path dir() {
        return dir;
    }

    /** The stored file of one of a job's outputs, named by its file name or its stored path; empty when unknown. */
    public Optional<Path> find(Job job, String name) {
        return job.outputs().stream()
                .filter(output -> output.filename().equals(name) || output.path().equals(name)
                        || (output.subfolder() + "/" + output.filename()).equals(name))
                .map(output -> resolve(Path.of(output.path())))
                .filter(Files::isRegularFile)
                .findFirst();
    }

    /** A relative path for an output of one attempt; ComfyUI's names cannot lead outside the job's folder. */
    Path attemptPath(String jobId, int attempt, String subfolder, String filename) {
        Path attemptDir = Path.of(safe(jobId), Integer.toString(attempt));
        Path file = attemptDir.resolve(subfolder.isEmpty() ? "" : subfolder).resolve(Path.of(filename).getFileName().toString()).normalize();
        if (!file.startsWith(attemptDir)) {
            return attemptDir.resolve(Path.of(filename).getFileName().toString());
        }
        return file;
    }

    Path resolve(Path relative) {
        Path resolved = dir.resolve(relative).normalize();
        if (!resolved.startsWith(dir)) {
            throw new IllegalArgumentException(relative + " is outside " + dir);
        }
        return resolved;
    }

    void deleteAttempt(String jobId, int attempt) {
        delete(dir.resolve(safe(jobId)).resolve(Integer.toString(attempt)));
    }

    /** Every output of the job, every attempt's. */
    void deleteJob(String jobId) {
        delete(dir.resolve(safe(jobId)));
    }

    private static void delete(Path folder) {
        if (!Files.exists(folder)) {
            return;
        }
        try (Stream<Path> files = Files.walk(folder)) {
            files.sorted(Comparator.reverseOrder()).forEach(path -> {
                try {
                    Files.deleteIfExists(path);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
        } catch (IOException | UncheckedIOException e) {
            throw new UncheckedIOException("cannot delete " + folder, e instanceof IOException io ? io : ((UncheckedIOException) e).getCause());
        }
    }

    private static String safe(String jobId) {
        return UNSAFE.matcher(jobId).replaceAll("_");
    }
}
