package dev.comfyctl.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Free loopback ports for things that must be told their port up front (the fake takes {@code --port}).
 *
 * <p>They are chosen below the kernel's ephemeral range. The ports it hands out for port 0 and for every outgoing
 * connection come from that range, so a port picked there could be taken by any connection a test opens before the
 * fake binds it (a daemon with two instances once failed to start that way). Below it, only explicit binds take ports.
 */
public final class Ports {
    private static final int LOWEST = 10_000;
    private static final int EPHEMERAL_START = ephemeralStart();
    /**
     * Every port handed out in this JVM. Two picks for one daemon (its manager and health ports) are both free until
     * it binds them, so they could be the same port; once they were, and a WebSocket meant for the manager port got
     * the health server's 404.
     */
    private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();

    private Ports() {
    }

    /**
     * A port that was free on 127.0.0.1 a moment ago and never handed out before in this JVM. Another process may
     * take it before the caller binds it; the choice is random over thousands of ports, and ComfyUI cannot be given
     * port 0.
     */
    public static int free() {
        for (int attempt = 0; attempt < 200; attempt++) {
            int port = EPHEMERAL_START - LOWEST >= 1_000
                    ? ThreadLocalRandom.current().nextInt(LOWEST, EPHEMERAL_START)
                    : ephemeral();
            if (bindable(port) && HANDED_OUT.add(port)) {
                return port;
            }
        }
        throw new IllegalStateException("no free loopback port in 200 tries");
    }

    /** A port the kernel hands out for port 0; it may hand out the same one again once it is closed. */
    private static int ephemeral() {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException("no free loopback port", e);
        }
    }

    /** The first of {@code count} consecutive ports that were free a moment ago (instances take base + index). */
    public static int freeRun(int count) {
        for (int attempt = 0; attempt < 100; attempt++) {
            int first = free();
            boolean allFree = first + count - 1 <= 65_535;
            for (int port = first + 1; allFree && port < first + count; port++) {
                allFree = bindable(port);
            }
            if (allFree) {
                return first;
            }
        }
        throw new IllegalStateException("no " + count + " consecutive free loopback ports");
    }

    private static boolean bindable(int port) {
        try (ServerSocket socket = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort() == port;
        } catch (IOException e) {
            return false;
        }
    }

    /** The first port of the kernel's ephemeral range (Linux), or where it usually starts. */
    private static int ephemeralStart() {
        try {
            // Not Files.readString: on this sysctl file it reads the first byte only ("3" of "32768, tab, 60999").
            String range = Files.readAllLines(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).get(0);
            return Integer.parseInt(range.trim().split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            return 32_768;
        }
    }
}
