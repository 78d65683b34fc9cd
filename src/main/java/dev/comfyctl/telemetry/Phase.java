package dev.comfyctl.telemetry;

/**
 * The phases of a machine's startup, in order. {@link #token()} is the phase's part of a span name
 * ({@code machine.{phase}.{component}.{action}}), {@link #attribute()} the {@code phase} attribute.
 */
public enum Phase {
    ENVIRONMENT("environment", "environment"),
    HARDWARE("hardware", "hardware_detection"),
    INSTANCES("instances", "instances"),
    /** The health server and the manager port. */
    SERVICES("services", "service_startup"),
    COMPONENTS("components", "component_installation"),
    COMFYUI("comfyui", "comfyui_start"),
    WORKER("worker", "worker_connection"),
    READY("ready", "ready");

    private final String token;
    private final String attribute;

    Phase(String token, String attribute) {
        this.token = token;
        this.attribute = attribute;
    }

    public String token() {
        return token;
    }

    public String attribute() {
        return attribute;
    }

    /** {@code machine.{phase}.{component}.{action}}. */
    public String spanName(String component, String action) {
        return "machine." + token + "." + component + "." + action;
    }
}
