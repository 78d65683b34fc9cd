package dev.comfyctl.supervisor;

/** Told about every state change of an instance, on the instance's lifecycle thread; must not block. */
public interface InstanceListener {
    void stateChanged(String instance, InstanceState from, InstanceState to, String reason);
}
