package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;

import java.io.PrintWriter;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/** Prints start steps as they arrive from the daemon, one line each, and the banners around them. */
final class StepPrinter {
    private static final DateTimeFormatter BANNER_TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss");
    private static final int STEPS = 8;

    private final PrintWriter out;

    StepPrinter(PrintWriter out) {
        this.out = out;
    }

    void banner(String what) {
        out.println("== comfyctl · " + LocalDateTime.now().format(BANNER_TIME) + " · " + what);
        out.flush();
    }

    void step(JsonNode step) {
        String outcome = step.path("outcome").asText();
        boolean launching = outcome.equals("RUNNING") && step.path("step").asInt() == 7;
        if (outcome.equals("RUNNING") && !launching) {
            return;
        }
        String mark = switch (outcome) {
            case "WARNING" -> "!";
            case "FAILED" -> "x";
            case "RUNNING" -> ">";
            default -> " ";
        };
        String instance = step.has("instance") ? step.path("instance").asText() + " " : "";
        out.printf("%s %s[%d/%d] %-16s %s%n", mark, instance, step.path("step").asInt(), STEPS, step.path("title").asText(),
                step.path("message").asText());
        out.flush();
    }

    /** The failure line for stderr plus ComfyUI's last words, if the daemon sent them. */
    static String failure(JsonNode result) {
        StringBuilder text = new StringBuilder();
        if (result.has("step")) {
            text.append("step ").append(result.path("step").asInt()).append(" (").append(result.path("title").asText())
                    .append(") failed: ");
        }
        text.append(result.path("error").asText("unknown error"));
        JsonNode tail = result.path("logTail");
        if (tail.isArray() && !tail.isEmpty()) {
            text.append("\n--- last lines of ComfyUI's log ---");
            tail.forEach(line -> text.append('\n').append(line.asText()));
        }
        return text.toString();
    }
}
