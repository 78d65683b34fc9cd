package dev.comfyctl.install;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Downloads one model file at a time (callers run several in parallel): into a hidden temporary file in the
 * destination directory, resumed with an HTTP Range request after a network error, sha256 checked, and renamed
 * into place only when whole. A 404, a bad hash, a full disk or a destination outside the models directory
 * fail at once and leave no file behind; network errors are retried with a doubling backoff, and when the
 * retries run out the bytes so far are kept for the next run to resume.
 */
final class ModelDownloader {
    private static final int BUFFER = 1 << 16;
    private static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(30);
    private static final Duration MAX_BACKOFF = Duration.ofSeconds(60);
    /** The JDK client has no read timeout: a connection that stops sending is closed by this watch. */
    private static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(60);
    private static final ScheduledExecutorService STALL_WATCH = Executors.newSingleThreadScheduledExecutor(runnable -> {
        Thread thread = new Thread(runnable, "model-download-stall-watch");
        thread.setDaemon(true);
        return thread;
    });
    private static final Pattern CONTENT_RANGE = Pattern.compile("bytes (\\d+)-");
    static final String PART_SUFFIX = ".comfyctl-part";

    enum Result { DOWNLOADED, SKIPPED, PLANNED }

    /** A model could not be installed; the message says why and what to do. */
    static final class ModelFailure extends RuntimeException {
        ModelFailure(String message) {
            super(message);
        }
    }

    /** A failure worth another attempt: the connection broke or the server had a passing problem. */
    private static final class Retryable extends Exception {
        Retryable(String message) {
            super(message);
        }
    }

    private final Path modelsDir;
    private final HttpClient http;
    private final int retries;
    private final Duration firstBackoff;
    private final InstallListener listener;
    private final Duration stallTimeout;

    ModelDownloader(Path modelsDir, int retries, Duration firstBackoff, InstallListener listener) {
        this(modelsDir, retries, firstBackoff, listener, DEFAULT_STALL_TIMEOUT);
    }

    /** @param stallTimeout how long a download may go without a byte before its connection is closed and retried */
    ModelDownloader(Path modelsDir, int retries, Duration firstBackoff, InstallListener listener, Duration stallTimeout) {
        this.stallTimeout = stallTimeout;
        this.modelsDir = modelsDir.toAbsolutePath().normalize();
        this.http = HttpClient.newBuilder().connectTimeout(CONNECT_TIMEOUT).followRedirects(HttpClient.Redirect.NORMAL).build();
        this.retries = retries;
        this.firstBackoff = firstBackoff;
        this.listener = listener;
    }

    /** @throws ModelFailure saying what failed and what to do */
    Result install(ModelFile model, boolean dryRun) {
        Path destination = destination(model);
        if (Files.isRegularFile(destination)) {
            Optional<String> mismatch = presentMismatch(model, destination);
            if (mismatch.isEmpty()) {
                listener.modelSkipped(model, "present" + (model.sha256().isPresent() ? " with the right sha256" : "") + " at " + destination);
                return Result.SKIPPED;
            }
            if (dryRun) {
                listener.modelPlanned(model, "download " + model.url() + " again to " + destination + " (" + mismatch.get() + ")");
                return Result.PLANNED;
            }
        } else if (dryRun) {
            listener.modelPlanned(model, "download " + model.url() + " to " + destination);
            return Result.PLANNED;
        }
        listener.modelStarted(model, destination);
        Path part = destination.resolveSibling("." + model.fileName() + PART_SUFFIX);
        try {
            Files.createDirectories(destination.getParent());
        } catch (IOException e) {
            throw new ModelFailure("cannot create " + destination.getParent() + ": " + e.getMessage() + "; check the permissions of " + modelsDir);
        }
        Duration backoff = firstBackoff;
        for (int attempt = 0; ; attempt++) {
            try {
                download(model, part);
                break;
            } catch (Retryable e) {
                if (attempt >= retries) {
                    throw new ModelFailure(model.url() + ": " + e.getMessage() + " (tried " + (attempt + 1) + " times); "
                            + partKept(part) + "check the network and run again");
                }
                sleep(backoff);
                backoff = backoff.multipliedBy(2).compareTo(MAX_BACKOFF) > 0 ? MAX_BACKOFF : backoff.multipliedBy(2);
            } catch (ModelFailure e) {
                InstallFiles.deleteQuietly(part);
                throw e;
            }
        }
        long size = sizeOf(part);
        if (model.size().isPresent() && model.size().getAsLong() != size) {
            InstallFiles.deleteQuietly(part);
            throw new ModelFailure(model.url() + " gave " + size + " bytes but the manifest says " + model.size().getAsLong()
                    + "; the download was removed. Fix the manifest's size, or the URL if it points at another file");
        }
        String hash = model.sha256().isPresent() ? sha256(part) : "";
        if (model.sha256().isPresent() && !model.sha256().get().equals(hash)) {
            InstallFiles.deleteQuietly(part);
            throw new ModelFailure(model.url() + " has sha256 " + hash + " but the manifest says " + model.sha256().get()
                    + "; the download was removed. Fix the manifest's sha256, or the URL if it points at another file");
        }
        try {
            Files.move(part, destination, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            InstallFiles.deleteQuietly(part);
            throw new ModelFailure("cannot rename " + part + " to " + destination + ": " + e.getMessage());
        }
        listener.modelDone(model, "downloaded to " + destination + (model.sha256().isPresent() ? ", sha256 checked" : ""));
        return Result.DOWNLOADED;
    }

    /** {@code <models dir>/<folder>/<file name>}, refused when it would land anywhere else. */
    Path destination(ModelFile model) {
        Path destination;
        boolean absolute;
        try {
            destination = modelsDir.resolve(model.folder()).resolve(model.fileName()).normalize();
            absolute = Path.of(model.folder()).isAbsolute() || Path.of(model.fileName()).isAbsolute();
        } catch (InvalidPathException e) {
            throw new ModelFailure("the model " + model.url() + " has the destination '" + model.destination()
                    + "', which is not a valid path (" + e.getReason() + "); give a plain folder and file name");
        }
        if (absolute || !destination.startsWith(modelsDir) || destination.getNameCount() < modelsDir.getNameCount() + 2) {
            throw new ModelFailure("the model " + model.url() + " would be saved to '" + model.destination()
                    + "', which is outside the models directory " + modelsDir
                    + "; give a folder such as 'checkpoints' and a plain file name, without '..' or a leading '/'");
        }
        return destination;
    }

    /** Empty when the present file is the one wanted, else why it is not. */
    private Optional<String> presentMismatch(ModelFile model, Path file) {
        if (model.sha256().isPresent()) {
            String hash = sha256(file);
            return hash.equals(model.sha256().get()) ? Optional.empty() : Optional.of("its sha256 is " + hash);
        }
        try {
            long size = Files.size(file);
            return model.size().isPresent() && model.size().getAsLong() != size
                    ? Optional.of("its size is " + size + " bytes, not " + model.size().getAsLong()) : Optional.empty();
        } catch (IOException e) {
            return Optional.of("it cannot be read: " + e.getMessage());
        }
    }

    private void download(ModelFile model, Path part) throws Retryable {
        long offset = sizeOf(part);
        HttpRequest.Builder request = HttpRequest.newBuilder(model.url()).timeout(stallTimeout).GET();
        if (offset > 0) {
            request.header("Range", "bytes=" + offset + "-");
        }
        HttpResponse<InputStream> response;
        try {
            response = http.send(request.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (IOException e) {
            throw new Retryable("the download failed: " + describe(e));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ModelFailure(model.url() + ": interrupted");
        }
        AtomicLong lastByte = new AtomicLong(System.nanoTime());
        AtomicBoolean stalled = new AtomicBoolean();
        InputStream stream = response.body();
        long period = Math.max(10, Math.min(1000, stallTimeout.toMillis() / 4));
        ScheduledFuture<?> watch = STALL_WATCH.scheduleAtFixedRate(() -> {
            if (System.nanoTime() - lastByte.get() > stallTimeout.toNanos() && !stalled.getAndSet(true)) {
                closeQuietly(stream);
            }
        }, period, period, TimeUnit.MILLISECONDS);
        try (InputStream body = stream) {
            int status = response.statusCode();
            if (status == 416) {
                InstallFiles.deleteQuietly(part);
                throw new Retryable("the server refused to resume at byte " + offset);
            }
            if (status == 404 || status == 410) {
                throw new ModelFailure(model.url() + " answered HTTP " + status + " (not found); fix the model's URL in the manifest");
            }
            if (status == 408 || status == 429 || status >= 500) {
                throw new Retryable("the server answered HTTP " + status);
            }
            if (status != 200 && status != 206) {
                throw new ModelFailure(model.url() + " answered HTTP " + status + "; check the URL and whether it needs a token");
            }
            boolean resumed = status == 206 && offset > 0 && contentRangeStart(response) == offset;
            if (status == 206 && !resumed) {
                InstallFiles.deleteQuietly(part);
                throw new Retryable("the server sent another range than the one asked for; starting over");
            }
            long start = resumed ? offset : 0;
            OptionalLong length = response.headers().firstValueAsLong("Content-Length");
            long total = length.isPresent() ? start + length.getAsLong() : model.size().orElse(-1);
            checkSpace(model, part, total - start);
            copy(model, body, part, resumed, start, total, lastByte);
        } catch (IOException e) {
            throw new Retryable(stalled.get() ? "no byte arrived for " + stallTimeout.toSeconds() + " s"
                    : "the connection broke: " + describe(e));
        } finally {
            watch.cancel(false);
        }
    }

    private void copy(ModelFile model, InputStream body, Path part, boolean append, long start, long total, AtomicLong lastByte)
            throws IOException {
        byte[] buffer = new byte[BUFFER];
        long written = start;
        long reported = -1;
        try (OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            listener.modelProgress(model, written, total);
            for (int read; (read = body.read(buffer)) >= 0; ) {
                try {
                    out.write(buffer, 0, read);
                } catch (IOException e) {
                    throw writeFailure(model, part, e);
                }
                written += read;
                lastByte.set(System.nanoTime());
                if (written - reported >= (1 << 20) || reported < 0) {
                    listener.modelProgress(model, written, total);
                    reported = written;
                }
            }
        } catch (FileSystemException e) {
            throw writeFailure(model, part, e);
        }
        listener.modelProgress(model, written, total);
    }

    private ModelFailure writeFailure(ModelFile model, Path part, IOException e) {
        String reason = describe(e);
        if (reason.toLowerCase(Locale.ROOT).contains("no space left")) {
            return new ModelFailure("the disk is full: cannot write " + model.fileName() + " into " + part.getParent()
                    + " (" + reason + "); the partial download was removed. Free some space and run again");
        }
        return new ModelFailure("cannot write " + part + ": " + reason);
    }

    /** Refuses a download that cannot fit before a byte is written, rather than after the disk is full. */
    private void checkSpace(ModelFile model, Path part, long remaining) {
        if (remaining <= 0) {
            return;
        }
        long usable;
        try {
            usable = Files.getFileStore(part.getParent()).getUsableSpace();
        } catch (IOException e) {
            return;
        }
        if (usable < remaining) {
            throw new ModelFailure("not enough disk space for " + model.fileName() + ": it needs " + mib(remaining) + " more and "
                    + part.getParent() + " has " + mib(usable) + " free; free some space and run again");
        }
    }

    private static long contentRangeStart(HttpResponse<?> response) {
        String range = response.headers().firstValue("Content-Range").orElse("");
        Matcher matcher = CONTENT_RANGE.matcher(range);
        return matcher.find() ? Long.parseLong(matcher.group(1)) : -1;
    }

    private static String partKept(Path part) {
        long size = sizeOf(part);
        return size > 0 ? "the " + size + " bytes downloaded so far are kept in " + part + " and the next run resumes there; " : "";
    }

    private static long sizeOf(Path file) {
        try {
            return Files.isRegularFile(file) ? Files.size(file) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    static String sha256(Path file) {
        try (InputStream in = Files.newInputStream(file)) {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            byte[] buffer = new byte[BUFFER];
            for (int read; (read = in.read(buffer)) >= 0; ) {
                digest.update(buffer, 0, read);
            }
            return HexFormat.of().formatHex(digest.digest());
        } catch (IOException e) {
            throw new ModelFailure("cannot read " + file + " to check its sha256: " + e.getMessage());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String describe(Exception e) {
        return e.getMessage() == null || e.getMessage().isBlank() ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / 1048576.0);
    }

    private static void closeQuietly(InputStream stream) {
        try {
            stream.close();
        } catch (IOException e) {
            // Closing is how the stalled read is ended; its own failure changes nothing.
        }
    }

    private static void sleep(Duration duration) {
        try {
            Thread.sleep(duration.toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new ModelFailure("interrupted while waiting to retry");
        }
    }
}
