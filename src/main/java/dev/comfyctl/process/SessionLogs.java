package dev.comfyctl.process;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The directory of session logs: one file per ComfyUI run, named {@code YYYYMMDD_HHMMSS.log} after its
 * start in local time, with {@code _2}, {@code _3}... appended when several start within one second.
 * Other files in the directory are ignored. Sessions are ordered by time stamp, then by suffix.
 */
public final class SessionLogs {

    private static final Logger log = LoggerFactory.getLogger(SessionLogs.class);
    private static final DateTimeFormatter STAMP = DateTimeFormatter.ofPattern("yyyyMMdd_HHmmss");
    private static final Pattern NAME = Pattern.compile("(\\d{8}_\\d{6})(?:_(\\d{1,9}))?\\.log");
    private static final int TAIL_BLOCK = 8192;

    /** Session order: time stamp, then collision suffix (none counts as 1). Only for names matching {@link #NAME}. */
    static final Comparator<Path> OLDEST_FIRST = Comparator
            .comparing((Path p) -> stamp(p).group(1))
            .thenComparingInt(p -> stamp(p).group(2) == null ? 1 : Integer.parseInt(stamp(p).group(2)));

    private final Path directory;
    private final ZoneId zone;

    /** Session logs in {@code directory}, named in the system's time zone. */
    public SessionLogs(Path directory) {
        this(directory, ZoneId.systemDefault());
    }

    public SessionLogs(Path directory, ZoneId zone) {
        this.directory = directory;
        this.zone = zone;
    }

    public Path directory() {
        return directory;
    }

    /**
     * Creates the empty log of a session starting at {@code now}, and the directory if missing. Never
     * reuses an existing file, also not one created concurrently by another process.
     *
     * @throws UncheckedIOException if the directory or file cannot be created
     */
    public Path createNew(Instant now) {
        String stamp = STAMP.format(now.atZone(zone));
        try {
            Files.createDirectories(directory);
            for (int n = 1; ; n++) {
                Path file = directory.resolve(stamp + (n == 1 ? "" : "_" + n) + ".log");
                try {
                    return Files.createFile(file);
                } catch (FileAlreadyExistsException e) {
                    log.debug("Session log {} exists, trying the next suffix", file);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot create a session log in " + directory + ": " + e.getMessage(), e);
        }
    }

    /** @return the newest session log; empty when there is none (or no directory) */
    public Optional<Path> current() {
        List<Path> all = all();
        return all.isEmpty() ? Optional.empty() : Optional.of(all.get(all.size() - 1));
    }

    /**
     * @return all session logs, oldest first; empty when the directory does not exist
     * @throws UncheckedIOException if the directory cannot be listed
     */
    public List<Path> all() {
        if (!Files.isDirectory(directory)) {
            return List.of();
        }
        try (Stream<Path> files = Files.list(directory)) {
            return files.filter(p -> NAME.matcher(p.getFileName().toString()).matches() && Files.isRegularFile(p))
                    .sorted(OLDEST_FIRST)
                    .collect(Collectors.toList());
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot list session logs in " + directory + ": " + e.getMessage(), e);
        }
    }

    /**
     * Deletes the oldest session logs until at most {@code keepCount} remain and they total at most
     * {@code keepBytes}, but never {@code current} (which still counts toward both limits, so a current
     * log larger than {@code keepBytes} leaves only itself).
     *
     * @return the deleted files, oldest first
     * @throws IllegalArgumentException if a limit is negative
     * @throws UncheckedIOException     if a file cannot be measured or deleted; files deleted before stay deleted
     */
    public List<Path> prune(int keepCount, long keepBytes, Path current) {
        if (keepCount < 0) {
            throw new IllegalArgumentException("keepCount " + keepCount + " < 0");
        }
        if (keepBytes < 0) {
            throw new IllegalArgumentException("keepBytes " + keepBytes + " < 0");
        }
        Path keep = current.toAbsolutePath().normalize();
        List<Path> logs = all();
        List<Long> sizes = new ArrayList<>();
        long total = 0;
        for (Path file : logs) {
            long size = size(file);
            sizes.add(size);
            total += size;
        }
        int count = logs.size();
        List<Path> deleted = new ArrayList<>();
        for (int i = 0; i < logs.size() && (count > keepCount || total > keepBytes); i++) {
            Path file = logs.get(i);
            if (file.toAbsolutePath().normalize().equals(keep)) {
                continue;
            }
            try {
                Files.deleteIfExists(file);
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot delete old session log " + file + ": " + e.getMessage(), e);
            }
            count--;
            total -= sizes.get(i);
            deleted.add(file);
        }
        if (!deleted.isEmpty()) {
            log.info("Pruned {} session logs in {} (keeping {} files, {} bytes)", deleted.size(), directory, count, total);
        }
        return deleted;
    }

    /**
     * The last {@code lines} lines of a text file, read backwards from its end so that the cost depends
     * on the lines returned, not on the file size. Lines end at {@code \n}; a trailing {@code \r} is
     * dropped; an unterminated last line counts as a line. Bytes are decoded as UTF-8 (invalid ones
     * replaced).
     *
     * @throws IllegalArgumentException if {@code lines} is negative
     * @throws UncheckedIOException     if the file cannot be read (also when it does not exist)
     */
    public static List<String> tail(Path file, int lines) {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            return tail(channel, channel.size(), lines);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot read the end of " + file + ": " + e, e);
        }
    }

    /** Like {@link #tail(Path, int)} for the first {@code end} bytes of an open file. */
    static List<String> tail(FileChannel channel, long end, int lines) throws IOException {
        if (lines < 0) {
            throw new IllegalArgumentException("lines " + lines + " < 0");
        }
        if (lines == 0 || end == 0) {
            return List.of();
        }
        long start = startOfLastLines(channel, end, lines);
        ByteBuffer buffer = ByteBuffer.allocate(Math.toIntExact(end - start));
        readFully(channel, buffer, start);
        return splitLines(new String(buffer.array(), 0, buffer.position(), StandardCharsets.UTF_8));
    }

    /** @return the position just after the last {@code \n} before {@code end}, or 0 if there is none */
    static long endOfLastCompleteLine(FileChannel channel, long end) throws IOException {
        return afterNthNewlineFromEnd(channel, end, 1);
    }

    private static long startOfLastLines(FileChannel channel, long end, int lines) throws IOException {
        // The newline ending the last line does not start another line.
        long searchEnd = byteAt(channel, end - 1) == '\n' ? end - 1 : end;
        return afterNthNewlineFromEnd(channel, searchEnd, lines);
    }

    /** @return the position after the {@code n}th newline counted back from {@code end}, or 0 if there are fewer */
    private static long afterNthNewlineFromEnd(FileChannel channel, long end, int n) throws IOException {
        ByteBuffer block = ByteBuffer.allocate(TAIL_BLOCK);
        int newlines = 0;
        long blockEnd = end;
        while (blockEnd > 0) {
            long blockStart = Math.max(0, blockEnd - TAIL_BLOCK);
            block.clear().limit(Math.toIntExact(blockEnd - blockStart));
            readFully(channel, block, blockStart);
            for (int i = block.position() - 1; i >= 0; i--) {
                if (block.get(i) == '\n' && ++newlines == n) {
                    return blockStart + i + 1;
                }
            }
            blockEnd = blockStart;
        }
        return 0;
    }

    /** Fills the buffer from {@code position} on, or up to the end of the file: one read may return less. */
    private static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        int read = 0;
        while (buffer.hasRemaining() && read >= 0) {
            read = channel.read(buffer, position + buffer.position());
        }
    }

    private static int byteAt(FileChannel channel, long position) throws IOException {
        ByteBuffer one = ByteBuffer.allocate(1);
        return channel.read(one, position) == 1 ? one.get(0) : -1;
    }

    static List<String> splitLines(String text) {
        List<String> lines = new ArrayList<>();
        for (String line : text.split("\n", -1)) {
            lines.add(line.endsWith("\r") ? line.substring(0, line.length() - 1) : line);
        }
        if (text.endsWith("\n")) {
            lines.remove(lines.size() - 1);
        }
        return lines;
    }

    private static long size(Path file) {
        try {
            return Files.size(file);
        } catch (NoSuchFileException e) {
            return 0;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot measure session log " + file + ": " + e.getMessage(), e);
        }
    }

    private static Matcher stamp(Path file) {
        Matcher matcher = NAME.matcher(file.getFileName().toString());
        if (!matcher.matches()) {
            throw new IllegalArgumentException("not a session log name: " + file.getFileName());
        }
        return matcher;
    }
}
