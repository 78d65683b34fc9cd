package dev.comfyctl.config;

import java.util.List;

/** One or more configuration values are invalid; the message names each key, value and source. */
public final class ConfigException extends RuntimeException {
    private final List<String> problems;

    public ConfigException(List<String> problems) {
        super(String.join("; ", problems));
        this.problems = List.copyOf(problems);
    }

    public List<String> problems() {
        return problems;
    }
}
