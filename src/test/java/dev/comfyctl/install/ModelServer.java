package dev.comfyctl.install;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A real HTTP/1.1 server on port 0 serving files from memory, with Range support, that can cut a response
 * in the middle (the connection closes after some bytes), announce a size it never sends, and that records
 * every request line and Range header.
 */
final class ModelServer implements AutoCloseable {
    private static final Pattern RANGE = Pattern.compile("bytes=(\\d+)-");

    private final ServerSocket socket;
    private final Map<String, byte[]> files = new ConcurrentHashMap<>();
    /** Path to how many more responses are cut after this many body bytes. */
    private final Map<String, int[]> cuts = new ConcurrentHashMap<>();
    private final Map<String, Long> announcedOnly = new ConcurrentHashMap<>();
    private final Map<String, Boolean> withoutLength = new ConcurrentHashMap<>();
    /** Paths whose cut responses stop sending and keep the connection open instead of closing it. */
    private final Map<String, Boolean> stalls = new ConcurrentHashMap<>();
    final List<String> requests = new CopyOnWriteArrayList<>();
    private final AtomicInteger active = new AtomicInteger();
    final AtomicInteger mostActive = new AtomicInteger();
    private volatile long responseDelayMillis;

    ModelServer() throws IOException {
        socket = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread acceptor = new Thread(this::accept, "model-server");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    URI url(String path) {
        return URI.create("http://127.0.0.1:" + socket.getLocalPort() + path);
    }

    void serve(String path, byte[] content) {
        files.put(path, content);
    }

    /** The next {@code times} responses for {@code path} end after {@code bytes} body bytes. */
    void cut(String path, int bytes, int times) {
        cuts.put(path, new int[] {bytes, times});
    }

    /** The next {@code times} responses for {@code path} stop after {@code bytes} body bytes and keep the connection open. */
    void stall(String path, int bytes, int times) {
        cut(path, bytes, times);
        stalls.put(path, true);
    }

    /** Answers 200 with this Content-Length and then nothing. */
    void announce(String path, long size) {
        announcedOnly.put(path, size);
    }

    /** Serves {@code path} without a Content-Length: the body ends when the connection closes. */
    void serveWithoutLength(String path, byte[] content) {
        files.put(path, content);
        withoutLength.put(path, true);
    }

    void delayResponses(long millis) {
        responseDelayMillis = millis;
    }

    List<String> rangesOf(String path) {
        return requests.stream().filter(r -> r.startsWith("GET " + path + " ")).map(r -> r.substring(r.indexOf("range=") + 6)).toList();
    }

    private void accept() {
        while (!socket.isClosed()) {
            try {
                Socket connection = socket.accept();
                Thread handler = new Thread(() -> handle(connection), "model-server-connection");
                handler.setDaemon(true);
                handler.start();
            } catch (IOException e) {
                return;
            }
        }
    }

    private void handle(Socket connection) {
        try (connection) {
            BufferedReader in = new BufferedReader(new InputStreamReader(connection.getInputStream(), StandardCharsets.ISO_8859_1));
            String requestLine = in.readLine();
            if (requestLine == null) {
                return;
            }
            String range = "";
            for (String header; (header = in.readLine()) != null && !header.isEmpty(); ) {
                if (header.toLowerCase(Locale.ROOT).startsWith("range:")) {
                    range = header.substring(6).strip();
                }
            }
            String path = requestLine.split(" ")[1];
            requests.add("GET " + path + " range=" + range);
            mostActive.accumulateAndGet(active.incrementAndGet(), Math::max);
            try {
                if (responseDelayMillis > 0) {
                    Thread.sleep(responseDelayMillis);
                }
                if (respond(connection.getOutputStream(), path, range)) {
                    // Stalled: send nothing more until the client gives up and closes the connection.
                    connection.setSoTimeout(60_000);
                    connection.getInputStream().read();
                }
                // A FIN after the last byte, not a reset that could discard bytes still in flight.
                connection.shutdownOutput();
            } finally {
                active.decrementAndGet();
            }
        } catch (IOException | InterruptedException e) {
            // The client went away: nothing to answer.
        }
    }

    /** @return whether the response stalled */
    private boolean respond(OutputStream out, String path, String range) throws IOException {
        if (announcedOnly.containsKey(path)) {
            out.write(("HTTP/1.1 200 OK\r\nContent-Length: " + announcedOnly.get(path) + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.ISO_8859_1));
            out.flush();
            return false;
        }
        byte[] content = files.get(path);
        if (content == null) {
            out.write("HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\nConnection: close\r\n\r\nnot found".getBytes(StandardCharsets.ISO_8859_1));
            return false;
        }
        if (withoutLength.containsKey(path)) {
            out.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1));
            out.write(content);
            out.flush();
            return false;
        }
        Matcher matcher = RANGE.matcher(range);
        int start = matcher.find() ? Integer.parseInt(matcher.group(1)) : 0;
        String status = start > 0 ? "206 Partial Content" : "200 OK";
        String contentRange = start > 0 ? "Content-Range: bytes " + start + "-" + (content.length - 1) + "/" + content.length + "\r\n" : "";
        out.write(("HTTP/1.1 " + status + "\r\nContent-Length: " + (content.length - start) + "\r\n" + contentRange
                + "Accept-Ranges: bytes\r\nConnection: close\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1));
        int end = content.length;
        int[] cut = cuts.get(path);
        if (cut != null) {
            synchronized (cut) {
                if (cut[1] > 0) {
                    cut[1]--;
                    end = Math.min(content.length, start + cut[0]);
                }
            }
        }
        out.write(content, start, end - start);
        out.flush();
        return end < content.length && stalls.containsKey(path);
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
