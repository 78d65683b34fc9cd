package dev.comfyctl.proxy;

import io.vertx.core.MultiMap;

import java.util.HashSet;
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
        Set<String> skip = new HashSet<>(ALWAYS);
        for (String connection : from.getAll("connection")) {
            for (String token : connection.split(",")) {
                skip.add(token.strip().toLowerCase(Locale.ROOT));
            }
        }
        from.forEach((name, value) -> {
            if (!skip.contains(name.toLowerCase(Locale.ROOT))) {
                to.add(name, value);
            }
        });
    }
}
