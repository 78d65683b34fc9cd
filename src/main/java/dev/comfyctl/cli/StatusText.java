package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;

import java.time.Duration;

/** Renders the daemon's status JSON for people. */
final class StatusText {
    private StatusText() {
    }

    static String render(JsonNode status) {
        StringBuilder text = new StringBuilder();
        JsonNode daemon = status.path("daemon");
        line(text, "daemon", "running, pid " + daemon.path("pid").asLong() + ", up " + uptime(daemon.path("uptimeSeconds").asLong())
                + ", " + daemon.path("url").asText() + (daemon.path("background").asBoolean() ? " (background)" : "")
                + ", comfyctl " + daemon.path("version").asText());
        if (status.path("instances").size() > 1) {
            table(text, status.path("instances"));
        } else {
            details(text, status.path("instances"));
        }
        for (JsonNode gpu : status.path("gpus")) {
            line(text, "GPU " + gpu.path("index").asInt(), gpu.path("name").asText() + ", VRAM "
                    + gib(gpu.path("vramUsedMib").asLong()) + " / " + gib(gpu.path("vramTotalMib").asLong()) + " used");
        }
        if (status.path("gpus").isEmpty()) {
            line(text, "GPU", "none (" + status.path("gpuWarning").asText("CPU mode") + ")");
        }
        steps(text, status.path("steps"));
        return text.toString().stripTrailing();
    }

    /** Several instances: one row each, like {@code pm2 status}, then their errors and logs. */
    private static void table(StringBuilder text, JsonNode instances) {
        String format = "%-16s %-9s %-8s %-6s %-4s %-8s %-9s %s%n";
        text.append(String.format(format, "name", "state", "pid", "port", "gpu", "uptime", "restarts", "queue"));
        for (JsonNode instance : instances) {
            JsonNode queue = instance.path("queue");
            text.append(String.format(format, instance.path("name").asText(), instance.path("state").asText(),
                    instance.has("pid") ? Long.toString(instance.path("pid").asLong()) : "-",
                    instance.path("port").asInt(),
                    instance.path("gpuIndex").isNumber() ? Integer.toString(instance.path("gpuIndex").asInt()) : "cpu",
                    instance.has("uptimeSeconds") ? uptime(instance.path("uptimeSeconds").asLong()) : "-",
                    instance.path("restarts").asInt(),
                    queue.has("running") ? queue.path("running").asInt() + " running, " + queue.path("pending").asInt() + " pending" : "-"));
        }
        for (JsonNode instance : instances) {
            String name = instance.path("name").asText();
            JsonNode health = instance.path("health");
            if (!health.isMissingNode() && !health.path("ok").asBoolean()) {
                note(text, name, "API NOT answering: " + health.path("error").asText());
            }
            if (instance.has("lastError")) {
                note(text, name, "last error: " + instance.path("lastError").asText());
            }
            if (instance.has("sessionLog")) {
                note(text, name, "log: " + instance.path("sessionLog").asText());
            }
        }
    }

    /** One instance: a line per fact. */
    private static void details(StringBuilder text, JsonNode instances) {
        for (JsonNode instance : instances) {
            String name = instance.path("name").asText();
            StringBuilder state = new StringBuilder(instance.path("state").asText());
            if (instance.has("pid")) {
                state.append(", pid ").append(instance.path("pid").asLong());
            }
            if (instance.has("uptimeSeconds")) {
                state.append(", up ").append(uptime(instance.path("uptimeSeconds").asLong()));
            }
            state.append(", port ").append(instance.path("port").asInt());
            line(text, name, state.toString());
            JsonNode health = instance.path("health");
            if (!health.isMissingNode()) {
                line(text, "API", health.path("ok").asBoolean()
                        ? "healthy, /system_stats in " + health.path("latencyMs").asLong() + " ms"
                        : "NOT answering: " + health.path("error").asText());
            }
            JsonNode queue = instance.path("queue");
            if (queue.has("running")) {
                line(text, "queue", queue.path("running").asInt() + " running, " + queue.path("pending").asInt() + " pending");
            }
            if (instance.has("lastError")) {
                line(text, "last error", instance.path("lastError").asText());
            }
            if (instance.has("restartScheduledAt")) {
                line(text, "restart at", instance.path("restartScheduledAt").asText());
            }
            if (instance.has("sessionLog")) {
                line(text, "log", instance.path("sessionLog").asText());
            }
        }
    }

    /** A fact about one instance below the table, under its name. */
    private static void note(StringBuilder text, String instance, String value) {
        text.append(String.format("%-16s %s%n", instance, value));
    }

    /** The daemon's numbered startup steps, one line each, with what a failed one said. */
    private static void steps(StringBuilder text, JsonNode steps) {
        if (steps.isEmpty()) {
            return;
        }
        text.append("startup:").append(System.lineSeparator());
        for (JsonNode step : steps) {
            String took = step.has("durationMs") ? step.path("durationMs").asLong() + " ms" : "";
            String said = step.has("error") ? step.path("error").asText() : step.path("detail").asText("");
            text.append(String.format("  %2d. %-28s %-8s %8s  %s%n", step.path("number").asInt(), step.path("name").asText(),
                    step.path("state").asText(), took, said).stripTrailing()).append(System.lineSeparator());
        }
    }

    private static void line(StringBuilder text, String label, String value) {
        text.append(String.format("%-11s%s%n", label + ":", value));
    }

    private static String gib(long mib) {
        return String.format("%.1f GB", mib / 1024.0);
    }

    static String uptime(long seconds) {
        Duration d = Duration.ofSeconds(seconds);
        if (d.toDays() > 0) {
            return d.toDays() + "d " + d.toHoursPart() + "h";
        }
        if (d.toHours() > 0) {
            return d.toHours() + "h " + d.toMinutesPart() + "m";
        }
        return d.toMinutes() > 0 ? d.toMinutes() + "m " + d.toSecondsPart() + "s" : d.toSeconds() + "s";
    }
}
