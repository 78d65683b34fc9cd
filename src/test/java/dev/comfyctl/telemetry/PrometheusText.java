package dev.comfyctl.telemetry;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A scrape in Prometheus' text format (0.0.4), parsed strictly so that a test fails on anything Prometheus
 * would refuse: every sample line is {@code name{labels} value} and belongs to a family declared by a
 * {@code # TYPE} line before it.
 */
final class PrometheusText {
    private static final Pattern SAMPLE = Pattern.compile(
            "([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\\{(.*)\\})? (\\S+)(?: -?\\d+)?");
    private static final Pattern LABEL = Pattern.compile("([a-zA-Z_][a-zA-Z0-9_]*)=\"((?:[^\"\\\\]|\\\\.)*)\"(,|$)");
    private static final Pattern TYPE = Pattern.compile("# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)");
    private static final List<String> SUFFIXES = List.of("", "_bucket", "_count", "_sum", "_total", "_created");

    record Sample(String name, Map<String, String> labels, double value) {
    }

    private final List<Sample> samples;

    private PrometheusText(List<Sample> samples) {
        this.samples = samples;
    }

    /** @throws IllegalArgumentException naming the first line that is not valid exposition text */
    static PrometheusText parse(String text) {
        List<Sample> samples = new ArrayList<>();
        Set<String> families = new HashSet<>();
        for (String line : text.split("\n")) {
            Matcher type = TYPE.matcher(line);
            if (type.matches()) {
                families.add(type.group(1));
            } else if (!line.isBlank() && !line.startsWith("# HELP ")) {
                samples.add(sample(line, families));
            }
        }
        return new PrometheusText(List.copyOf(samples));
    }

    private static Sample sample(String line, Set<String> families) {
        Matcher sample = SAMPLE.matcher(line);
        if (!sample.matches()) {
            throw new IllegalArgumentException("not a sample line: " + line);
        }
        String name = sample.group(1);
        if (SUFFIXES.stream().noneMatch(suffix -> name.endsWith(suffix)
                && families.contains(name.substring(0, name.length() - suffix.length())))) {
            throw new IllegalArgumentException("sample of no declared family: " + line);
        }
        return new Sample(name, labels(sample.group(2), line), value(sample.group(3), line));
    }

    private static Map<String, String> labels(String text, String line) {
        Map<String, String> labels = new HashMap<>();
        if (text == null || text.isEmpty()) {
            return labels;
        }
        Matcher label = LABEL.matcher(text);
        int end = 0;
        while (label.find() && label.start() == end) {
            labels.put(label.group(1), label.group(2));
            end = label.end();
        }
        if (end != text.length()) {
            throw new IllegalArgumentException("bad labels at " + end + ": " + line);
        }
        return labels;
    }

    private static double value(String text, String line) {
        switch (text) {
            case "+Inf":
                return Double.POSITIVE_INFINITY;
            case "-Inf":
                return Double.NEGATIVE_INFINITY;
            default:
                try {
                    return Double.parseDouble(text);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("bad value: " + line, e);
                }
        }
    }

    List<Sample> samples() {
        return samples;
    }

    /** Whether some sample has this name. */
    boolean has(String name) {
        return samples.stream().anyMatch(s -> s.name().equals(name));
    }

    /**
     * The value of the one sample with this name and these labels (others may be present).
     *
     * @param labels name, value, name, value...
     */
    double value(String name, String... labels) {
        List<Sample> matching = samples.stream().filter(s -> s.name().equals(name) && hasLabels(s, labels)).toList();
        if (matching.size() != 1) {
            throw new AssertionError(matching.size() + " samples of " + name + " " + List.of(labels) + " in\n" + this);
        }
        return matching.get(0).value();
    }

    private static boolean hasLabels(Sample sample, String... labels) {
        for (int i = 0; i < labels.length; i += 2) {
            if (!labels[i + 1].equals(sample.labels().get(labels[i]))) {
                return false;
            }
        }
        return true;
    }

    @Override
    public String toString() {
        StringBuilder text = new StringBuilder();
        samples.stream().filter(s -> s.name().startsWith("comfyctl_"))
                .forEach(s -> text.append(s.name()).append(s.labels()).append(' ').append(s.value()).append('\n'));
        return text.toString();
    }
}
