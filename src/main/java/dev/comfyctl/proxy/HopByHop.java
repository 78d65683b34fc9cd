package dev.comfyctl.proxy;

import io.netty.util.AsciiString;
import io.vertx.core.MultiMap;
import io.vertx.core.http.HttpHeaders;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * Headers that belong to one connection and must not be forwarded (RFC 9110, section 7.6.1): the fixed
 * set, plus every header the {@code Connection} header names. Runs twice per proxied request, so the common
 * case (no {@code Connection} header naming others) allocates nothing beyond the copied entries.
 */
final class HopByHop {
    private static final String[] ALWAYS = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
            "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization"};

    private static final int HOP_BY_HOP_LENGTHS = lengths();

    private HopByHop() {
    }

    /** Copies a client's request headers into the backend's request, without the hop-by-hop ones. */
    static void copyEndToEnd(MultiMap from, io.netty.handler.codec.http.HttpHeaders to) {
        copyEndToEnd(from, from.getAll(HttpHeaders.CONNECTION), to::add);
    }

    /** Copies a backend's response headers into the client's response, without the hop-by-hop ones. */
    static void copyEndToEnd(io.netty.handler.codec.http.HttpHeaders from, MultiMap to) {
        copyEndToEnd(from, from.getAll(HttpHeaders.CONNECTION), to::add);
    }

    /** Removes the hop-by-hop headers of a message that is passed on as it is. */
    static void strip(io.netty.handler.codec.http.HttpHeaders headers) {
        List<CharSequence> found = null;
        // Names as they are stored: iterating as Strings would copy every name of every message.
        for (Iterator<Map.Entry<CharSequence, CharSequence>> it = headers.iteratorCharSequence(); it.hasNext(); ) {
            CharSequence name = it.next().getKey();
            if (isAlways(name)) {
                found = found == null ? new ArrayList<>(2) : found;
                found.add(name);
            }
        }
        if (found == null) {
            return;
        }
        List<String> connection = headers.getAll(HttpHeaders.CONNECTION);
        if (!connection.isEmpty()) {
            found.addAll(namedByConnection(connection));
        }
        found.forEach(headers::remove);
    }

    private static void copyEndToEnd(Iterable<Map.Entry<String, String>> from, List<String> connection, BiConsumer<String, String> to) {
        Set<String> named = connection.isEmpty() ? Set.of() : namedByConnection(connection);
        for (Map.Entry<String, String> header : from) {
            String name = header.getKey();
            if (!isAlways(name) && (named.isEmpty() || !named.contains(name.toLowerCase(Locale.ROOT)))) {
                to.accept(name, header.getValue());
            }
        }
    }

    private static boolean isAlways(CharSequence name) {
        // Most names are none of these, and most have another length than all of them: a quick no.
        int length = name.length();
        if (length < 2 || length > 19 || (HOP_BY_HOP_LENGTHS & (1 << length)) == 0) {
            return false;
        }
        for (String hopByHop : ALWAYS) {
            if (AsciiString.contentEqualsIgnoreCase(hopByHop, name)) {
                return true;
            }
        }
        return false;
    }

    private static int lengths() {
        int lengths = 0;
        for (String name : ALWAYS) {
            lengths |= 1 << name.length();
        }
        return lengths;
    }

    /**
     * The header names the {@code Connection} header lists, lower-cased, without its usual options "keep-alive"
     * (already dropped) and "close" (no header): the common {@code Connection: keep-alive} then names nothing.
     */
    private static Set<String> namedByConnection(List<String> connection) {
        if (connection.size() == 1 && isUsualOption(connection.get(0))) {
            return Set.of();
        }
        Set<String> named = new HashSet<>();
        for (String value : connection) {
            for (String token : value.split(",")) {
                named.add(token.strip().toLowerCase(Locale.ROOT));
            }
        }
        named.remove("keep-alive");
        named.remove("close");
        return named;
    }

    private static boolean isUsualOption(String value) {
        return value.equalsIgnoreCase("keep-alive") || value.equalsIgnoreCase("close");
    }
}
