package dev.comfyctl.supervisor;

/** Told about every state change of an instance, on the instance's lifecycle thread; must not block. */
public interface InstanceListener {
    void stateChanged(String instance, InstanceState from, InstanceState to, String reason);

    /**
     * Told about every start step as it happens, whoever asked for the start (a user, a wake-up, a crash
     * restart), on the instance's lifecycle thread; must not block.
     */
    default void stepHappened(String instance, StepEvent event) {
    }
}
