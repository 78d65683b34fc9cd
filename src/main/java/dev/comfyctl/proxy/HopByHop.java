package dev.comfyctl.proxy;

import io.vertx.core.MultiMap;
import io.vertx.core.http.HttpHeaders;

import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * Headers that belong to one connection and must not be forwarded (RFC 9110, section 7.6.1): the fixed
 * set, plus every header the {@code Connection} header names. Runs twice per proxied request, so the common
 * case (no {@code Connection} header naming others) allocates nothing beyond the copied entries.
 */
final class HopByHop {
    private static final String[] ALWAYS = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
            "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization"};

    private HopByHop() {
    }

    /** Copies {@code from} into {@code to} without the hop-by-hop headers. */
    static void copyEndToEnd(MultiMap from, MultiMap to) {
        Set<String> named = from.contains(HttpHeaders.CONNECTION) ? namedByConnection(from) : Set.of();
        for (Map.Entry<String, String> header : from) {
            String name = header.getKey();
            if (!isAlways(name) && (named.isEmpty() || !named.contains(name.toLowerCase(Locale.ROOT)))) {
                to.add(name, header.getValue());
            }
        }
    }

    private static boolean isAlways(String name) {
        for (String hopByHop : ALWAYS) {
            if (hopByHop.equalsIgnoreCase(name)) {
                return true;
            }
        }
        return false;
    }

    /** The header names the {@code Connection} header lists, lower-cased; "keep-alive" and "close" among them are harmless. */
    private static Set<String> namedByConnection(MultiMap headers) {
        Set<String> named = new HashSet<>();
        for (String connection : headers.getAll(HttpHeaders.CONNECTION)) {
            for (String token : connection.split(",")) {
                named.add(token.strip().toLowerCase(Locale.ROOT));
            }
        }
        return named;
    }
}
