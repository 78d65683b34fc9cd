package dev.comfyctl.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
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

    private Ports() {
    }

    /**
     * A port that was free on 127.0.0.1 a moment ago. Another test may pick it before the caller binds it; the choice
     * is random over thousands of ports, and ComfyUI cannot be given port 0.
     */
    public static int free() {
        if (EPHEMERAL_START - LOWEST >= 1_000) {
            for (int attempt = 0; attempt < 200; attempt++) {
                int port = ThreadLocalRandom.current().nextInt(LOWEST, EPHEMERAL_START);
                if (bindable(port)) {
                    return port;
                }
            }
        }
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
            return Integer.parseInt(Files.readString(Path.of("/proc/sys/net/ipv4/ip_local_port_range")).trim().split("\\s+")[0]);
        } catch (IOException | RuntimeException e) {
            return 32_768;
        }
    }
}
