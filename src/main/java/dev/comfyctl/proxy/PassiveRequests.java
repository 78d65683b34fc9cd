package dev.comfyctl.proxy;

import java.util.List;

/**
 * Requests that neither wake ComfyUI nor count as activity, as {@code METHOD /path} patterns: {@code *}
 * is any method, a path ending in {@code *} matches any suffix, {@code *} alone any path, and the method
 * {@code WEBSOCKET} matches WebSocket upgrades.
 */
public final class PassiveRequests {
    private record Pattern(String method, String path) {
        boolean matches(String requestMethod, String requestPath) {
            if (!method.equals("*") && !method.equals(requestMethod)) {
                return false;
            }
            if (path.endsWith("*")) {
                return requestPath.startsWith(path.substring(0, path.length() - 1));
            }
            return requestPath.equals(path);
        }
    }

    private final List<Pattern> patterns;

    /** @param patterns already validated, as {@code Config.passiveRequests()} gives them */
    public PassiveRequests(List<String> patterns) {
        this.patterns = patterns.stream().map(p -> p.split(" ", 2)).map(p -> new Pattern(p[0], p[1])).toList();
    }

    public boolean matches(String method, String path, boolean webSocket) {
        String effective = webSocket ? "WEBSOCKET" : method;
        // A loop, not a stream: this runs for every proxied request.
        for (Pattern pattern : patterns) {
            if (pattern.matches(effective, path)) {
                return true;
            }
        }
        return false;
    }
}
