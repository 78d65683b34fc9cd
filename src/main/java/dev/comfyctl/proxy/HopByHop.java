package dev.comfyctl.proxy;

import io.vertx.core.MultiMap;

import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Headers that belong to one connection and must not be forwarded (RFC 9110, section 7.6.1): the fixed
 * set, plus every header the {@code Connection} header names.
 */
final class HopByHop {
    private static final Set<String> ALWAYS = Set.of("connection", "keep-alive", "proxy-connection", "te", "trailer",
            "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization");

    private HopByHop() {
    }

    /** Copies {@code from} into {@code to} without the hop-by-hop headers. */
    static void copyEndToEnd(MultiMap from, MultiMap to) {
        List<String> connections = from.getAll("connection");
        Set<String> skip = ALWAYS;
        if (!connections.isEmpty()) {
            skip = new HashSet<>(ALWAYS);
            for (String connection : connections) {
                for (String token : connection.split(",")) {
                    skip.add(token.strip().toLowerCase(Locale.ROOT));
                }
            }
        }
        Set<String> dropped = skip;
        from.forEach((name, value) -> {
            if (!dropped.contains(name.toLowerCase(Locale.ROOT))) {
                to.add(name, value);
            }
        });
    }
}
