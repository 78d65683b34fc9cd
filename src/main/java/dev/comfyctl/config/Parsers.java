package dev.comfyctl.config;

import dev.comfyctl.events.EventType;

import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.function.Function;

/** Turns raw strings into typed values; each failure says what the value must be. */
final class Parsers {
    private Parsers() {
    }

    static Object text(String raw) {
        return raw;
    }

    static Object path(String raw) {
        if (raw.isEmpty()) {
            throw new IllegalArgumentException("must be a path, not empty");
        }
        return expand(raw);
    }

    static Object optionalPath(String raw) {
        return raw.isEmpty() ? Optional.empty() : Optional.of(expand(raw));
    }

    private static Path expand(String raw) {
        if (raw.equals("~")) {
            return Setting.home();
        }
        if (raw.startsWith("~/")) {
            return Setting.home().resolve(raw.substring(2));
        }
        return Path.of(raw).toAbsolutePath().normalize();
    }

    static Object port(String raw) {
        return (Integer) intRange(1, 65_535).apply(raw);
    }

    static Object host(String raw) {
        if (raw.isEmpty() || raw.contains(" ") || raw.contains("/")) {
            throw new IllegalArgumentException("must be an IP address or host name such as 127.0.0.1");
        }
        return raw;
    }

    static Object bool(String raw) {
        return switch (raw.toLowerCase(Locale.ROOT)) {
            case "true", "yes", "on", "1" -> true;
            case "false", "no", "off", "0" -> false;
            default -> throw new IllegalArgumentException("must be true or false");
        };
    }

    static Object autoOrNonNegativeInt(String raw) {
        if (raw.equalsIgnoreCase("auto")) {
            return OptionalInt.empty();
        }
        return OptionalInt.of((Integer) intRange(0, 1_024).apply(raw));
    }

    static Function<String, Object> intRange(int min, int max) {
        return raw -> {
            int value;
            try {
                value = Integer.parseInt(raw);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("must be a whole number from " + min + " to " + max);
            }
            if (value < min || value > max) {
                throw new IllegalArgumentException("must be from " + min + " to " + max);
            }
            return value;
        };
    }

    static Function<String, Object> choice(String... choices) {
        return raw -> {
            String lower = raw.toLowerCase(Locale.ROOT);
            for (String choice : choices) {
                if (choice.equals(lower)) {
                    return choice;
                }
            }
            throw new IllegalArgumentException("must be one of " + String.join(", ", choices));
        };
    }

    /** Comma-separated {@code METHOD /path} patterns; {@code *} is any method, a trailing {@code *} any path suffix. */
    static Object requestPatterns(String raw) {
        List<String> patterns = new ArrayList<>();
        for (String item : raw.split(",")) {
            String pattern = item.strip();
            if (pattern.isEmpty()) {
                continue;
            }
            String[] parts = pattern.split("\\s+");
            if (parts.length != 2 || !(parts[1].startsWith("/") || parts[1].equals("*"))
                    || !parts[0].matches("\\*|[A-Za-z]+")) {
                throw new IllegalArgumentException("has '" + pattern + "', which is not 'METHOD /path' (e.g. 'GET /queue',"
                        + " '* /internal/*', 'WEBSOCKET /ws')");
            }
            patterns.add(parts[0].toUpperCase(Locale.ROOT) + " " + parts[1]);
        }
        return List.copyOf(patterns);
    }

    /** Comma-separated absolute http(s) URLs; a bad one is named by position only, as URLs may carry tokens. */
    static Object webhookUrls(String raw) {
        List<URI> urls = new ArrayList<>();
        for (String item : raw.split(",")) {
            if (item.isBlank()) {
                continue;
            }
            URI url;
            try {
                url = new URI(item.strip());
            } catch (URISyntaxException e) {
                throw new IllegalArgumentException("has a URL (number " + (urls.size() + 1) + ") that is not a valid URL");
            }
            if (url.getScheme() == null || !url.getScheme().matches("(?i)https?") || url.getHost() == null) {
                throw new IllegalArgumentException("has a URL (number " + (urls.size() + 1)
                        + ") that is not http:// or https:// with a host name");
            }
            urls.add(url);
        }
        return List.copyOf(urls);
    }

    /** Comma-separated event type ids; empty is every type. */
    static Object eventTypes(String raw) {
        Set<EventType> types = EnumSet.noneOf(EventType.class);
        for (String item : raw.split(",")) {
            if (item.isBlank()) {
                continue;
            }
            types.add(EventType.byId(item).orElseThrow(() -> new IllegalArgumentException("has '" + item.strip()
                    + "', which is not an event type; they are " + EventType.ids())));
        }
        return types.isEmpty() ? EnumSet.allOf(EventType.class) : types;
    }

    /** Splits like a POSIX shell: whitespace separates words, quotes group, backslash escapes. */
    static Object commandLine(String raw) {
        List<String> words = new ArrayList<>();
        StringBuilder word = new StringBuilder();
        boolean inWord = false;
        char quote = 0;
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (quote != 0) {
                if (c == quote) {
                    quote = 0;
                } else if (c == '\\' && quote == '"' && i + 1 < raw.length()) {
                    word.append(raw.charAt(++i));
                } else {
                    word.append(c);
                }
            } else if (c == '\'' || c == '"') {
                quote = c;
                inWord = true;
            } else if (c == '\\' && i + 1 < raw.length()) {
                word.append(raw.charAt(++i));
                inWord = true;
            } else if (Character.isWhitespace(c)) {
                if (inWord) {
                    words.add(word.toString());
                    word.setLength(0);
                    inWord = false;
                }
            } else {
                word.append(c);
                inWord = true;
            }
        }
        if (quote != 0) {
            throw new IllegalArgumentException("has an unclosed " + quote + " quote");
        }
        if (inWord) {
            words.add(word.toString());
        }
        return List.copyOf(words);
    }

    /** Empty (the embedded queue) or {@code redis://[:password@]host[:port][/db]}; never echoes the value. */
    static Object queueUrl(String raw) {
        if (raw.isEmpty()) {
            return Optional.empty();
        }
        String expected = "must be empty (the embedded queue) or redis://host:port/db, e.g. redis://127.0.0.1:6379/0";
        URI url;
        try {
            url = new URI(raw);
        } catch (URISyntaxException e) {
            throw new IllegalArgumentException("is not a valid URL: it " + expected);
        }
        if (url.getScheme() == null || !url.getScheme().matches("(?i)rediss?") || url.getHost() == null
                || !(url.getPath() == null || url.getPath().matches("/?\\d*"))) {
            throw new IllegalArgumentException(expected);
        }
        return Optional.of(url);
    }
}
