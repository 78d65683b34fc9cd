package dev.comfyctl.process;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/** Who listens on a TCP port, and whether a port can be bound. */
public final class PortOwner {

    private static final List<Path> TCP_TABLES = List.of(Path.of("/proc/net/tcp"), Path.of("/proc/net/tcp6"));
    private static final String LISTEN = "0A";

    private PortOwner() {
    }

    /**
     * The process holding a listening TCP socket (IPv4 or IPv6, any address) on {@code port} in this
     * network namespace. When several processes share the socket (a forking server), the lowest pid.
     *
     * @return empty when nothing listens, or when the listener's file descriptors cannot be read
     *         (another user's process without privileges): use {@link #isFree} to tell those apart
     * @throws IllegalArgumentException if the port is outside 1..65535
     * @throws UncheckedIOException     if the kernel's socket tables cannot be read
     */
    public static Optional<ProcessInfo> find(int port) {
        if (port < 1 || port > 65535) {
            throw new IllegalArgumentException("port " + port + " outside 1..65535");
        }
        Set<String> sockets = listeningSocketLinks(port);
        if (sockets.isEmpty()) {
            return Optional.empty();
        }
        try (DirectoryStream<Path> proc = Files.newDirectoryStream(Path.of("/proc"), ProcessTree::isPidDirectory)) {
            long owner = Long.MAX_VALUE;
            for (Path dir : proc) {
                long pid = Long.parseLong(dir.getFileName().toString());
                if (pid < owner && holdsAny(dir.resolve("fd"), sockets)) {
                    owner = pid;
                }
            }
            return owner == Long.MAX_VALUE ? Optional.empty() : ProcessInfo.of(owner);
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot list /proc to find the owner of port " + port, e);
        }
    }

    /**
     * Whether a server could listen on {@code host:port} now, tried by binding with SO_REUSEADDR as
     * servers do (so sockets lingering in TIME_WAIT do not count as taken). Racy by nature: the answer
     * can be stale by the time the caller acts on it.
     *
     * @throws IllegalArgumentException if the host cannot be resolved or the port is outside 0..65535
     */
    public static boolean isFree(String host, int port) {
        InetSocketAddress address = new InetSocketAddress(host, port);
        if (address.isUnresolved()) {
            throw new IllegalArgumentException("Cannot resolve host " + host);
        }
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(true);
            socket.bind(address);
            return true;
        } catch (BindException e) {
            return false;
        } catch (IOException e) {
            throw new UncheckedIOException("Cannot test whether " + host + ":" + port + " is free: " + e.getMessage(), e);
        }
    }

    /** @return {@code socket:[inode]} link targets of sockets listening on the port */
    private static Set<String> listeningSocketLinks(int port) {
        String portHex = String.format(":%04X", port);
        Set<String> links = new HashSet<>();
        for (Path table : TCP_TABLES) {
            List<String> lines;
            try {
                lines = Files.readAllLines(table);
            } catch (NoSuchFileException e) {
                continue;
            } catch (IOException e) {
                throw new UncheckedIOException("Cannot read " + table, e);
            }
            for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
                String[] fields = line.trim().split("\\s+");
                if (fields.length > 9 && fields[1].endsWith(portHex) && LISTEN.equals(fields[3]) && !"0".equals(fields[9])) {
                    links.add("socket:[" + fields[9] + "]");
                }
            }
        }
        return links;
    }

    private static boolean holdsAny(Path fdDir, Set<String> links) {
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(fdDir)) {
            for (Path fd : fds) {
                try {
                    if (links.contains(Files.readSymbolicLink(fd).toString())) {
                        return true;
                    }
                } catch (IOException e) {
                    // The descriptor was closed while we looked: not the socket we want.
                }
            }
        } catch (IOException | SecurityException e) {
            return false;
        }
        return false;
    }
}
