package dev.comfyctl.supervisor;

/**
 * The life of one supervised ComfyUI process.
 * <pre>
 * STOPPED -> STARTING -> READY -> STOPPING -> STOPPED
 *               \-> FAILED (start failed, crash loop)
 * </pre>
 */
public enum InstanceState {
    STOPPED,
    STARTING,
    READY,
    STOPPING,
    FAILED;

    /** Whether a ComfyUI process may exist in this state. */
    public boolean hasProcess() {
        return this == STARTING || this == READY || this == STOPPING;
    }
}
