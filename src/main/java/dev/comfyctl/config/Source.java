package dev.comfyctl.config;

/** Where a configuration value came from; later sources override earlier ones. */
public enum Source {
    DEFAULT("default"),
    FILE("config file"),
    ENVIRONMENT("environment"),
    FLAG("flag");

    private final String label;

    Source(String label) {
        this.label = label;
    }

    public String label() {
        return label;
    }
}
