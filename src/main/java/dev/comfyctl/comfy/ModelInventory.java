package dev.comfyctl.comfy;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystemLoopException;
import java.nio.file.FileVisitOption;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Counts the model files of a ComfyUI install, per folder type ({@code checkpoints}, {@code loras}, ...).
 *
 * <p>Looks under {@code <comfyDir>/models/<type>/}, recursively, following symbolic links (model folders
 * are often links to a shared disk). A model file has one of {@link #EXTENSIONS}, in any case; hidden
 * files and folders (name starting with {@code .}, such as download caches) and ComfyUI's
 * {@code put_..._here} placeholders are ignored. Folders listed in {@code extra_model_paths.yaml} are
 * <em>not</em> counted: reading that YAML needs a YAML parser this project does not have; the result
 * only says whether the file exists.
 */
public final class ModelInventory {

    /** File name endings that make a model file, lower case. */
    public static final Set<String> EXTENSIONS = Set.of(".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft");

    /** Problems beyond this many are counted but not described, so a broken disk cannot flood a report. */
    private static final int MAX_PROBLEMS = 20;

    /**
     * Model files of one folder type.
     *
     * @param files how many
     * @param bytes their total size
     */
    public record Folder(long files, long bytes) {
    }

    /**
     * What a scan found.
     *
     * @param byType                folder type to its model files, only types with at least one, sorted by name
     * @param totalFiles            model files over all types
     * @param totalBytes            their total size
     * @param extraModelPathsConfig {@code <comfyDir>/extra_model_paths.yaml} when it exists (its folders are not counted)
     * @param problems              folders or files that could not be read, as sentences; the counts leave them out
     */
    public record Result(Map<String, Folder> byType, long totalFiles, long totalBytes, Optional<Path> extraModelPathsConfig,
                         List<String> problems) {
        public Result {
            byType = Collections.unmodifiableMap(new LinkedHashMap<>(byType));
            Objects.requireNonNull(extraModelPathsConfig, "extraModelPathsConfig");
            problems = List.copyOf(problems);
        }

        /** Folder type to its number of model files, sorted by type name. */
        public Map<String, Long> countsByType() {
            Map<String, Long> counts = new LinkedHashMap<>();
            byType.forEach((type, folder) -> counts.put(type, folder.files()));
            return Collections.unmodifiableMap(counts);
        }

        public boolean isEmpty() {
            return totalFiles == 0;
        }
    }

    private ModelInventory() {
    }

    /**
     * Scans {@code comfyDir}. Never fails for a missing or partly unreadable models folder: a missing one
     * gives an empty result, unreadable parts are listed in {@link Result#problems()}.
     */
    public static Result scan(Path comfyDir) {
        Objects.requireNonNull(comfyDir, "comfyDir");
        Path extraConfig = comfyDir.resolve("extra_model_paths.yaml");
        Optional<Path> extra = Files.isRegularFile(extraConfig) ? Optional.of(extraConfig) : Optional.empty();
        Path models = comfyDir.resolve("models");
        Map<String, Folder> byType = new TreeMap<>();
        List<String> problems = new ArrayList<>();
        if (Files.isDirectory(models)) {
            try (DirectoryStream<Path> types = Files.newDirectoryStream(models, path -> Files.isDirectory(path) && !isHidden(path))) {
                for (Path typeDir : types) {
                    Counter counter = new Counter(problems);
                    try {
                        Files.walkFileTree(typeDir, EnumSet.of(FileVisitOption.FOLLOW_LINKS), Integer.MAX_VALUE, counter);
                    } catch (IOException e) {
                        counter.problem("cannot read " + typeDir + ": " + e);
                    }
                    if (counter.files > 0) {
                        byType.put(typeDir.getFileName().toString(), new Folder(counter.files, counter.bytes));
                    }
                }
            } catch (IOException e) {
                problems.add("cannot list " + models + ": " + e);
            }
        }
        long totalFiles = byType.values().stream().mapToLong(Folder::files).sum();
        long totalBytes = byType.values().stream().mapToLong(Folder::bytes).sum();
        return new Result(byType, totalFiles, totalBytes, extra, problems);
    }

    /** Whether {@code fileName} names a model file by its extension, ignoring case. */
    public static boolean isModelFile(String fileName) {
        String lower = fileName.toLowerCase(Locale.ROOT);
        return !lower.startsWith(".") && !isPlaceholder(lower) && EXTENSIONS.stream().anyMatch(lower::endsWith);
    }

    /** ComfyUI ships empty marker files such as {@code put_checkpoints_here} in every models folder. */
    private static boolean isPlaceholder(String lowerName) {
        return lowerName.startsWith("put_") && lowerName.contains("here");
    }

    private static boolean isHidden(Path path) {
        Path name = path.getFileName();
        return name != null && name.toString().startsWith(".");
    }

    private static final class Counter extends SimpleFileVisitor<Path> {
        private final List<String> problems;
        private long files;
        private long bytes;

        Counter(List<String> problems) {
            this.problems = problems;
        }

        @Override
        public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) {
            return isHidden(dir) ? FileVisitResult.SKIP_SUBTREE : FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) {
            if (!isModelFile(file.getFileName().toString())) {
                return FileVisitResult.CONTINUE;
            }
            if (attrs.isRegularFile()) {
                files++;
                bytes += attrs.size();
            } else if (attrs.isSymbolicLink()) {
                // The walk hands over the link itself only when its target is missing.
                problem("broken symbolic link " + file + ", not counted");
            }
            return FileVisitResult.CONTINUE;
        }

        @Override
        public FileVisitResult visitFileFailed(Path file, IOException e) {
            problem(e instanceof FileSystemLoopException
                    ? "symbolic link loop at " + file + ", not followed"
                    : "cannot read " + file + ": " + e);
            return FileVisitResult.CONTINUE;
        }

        void problem(String problem) {
            if (problems.size() < MAX_PROBLEMS) {
                problems.add(problem);
            } else if (problems.size() == MAX_PROBLEMS) {
                problems.add("more unreadable paths not listed");
            }
        }
    }
}
