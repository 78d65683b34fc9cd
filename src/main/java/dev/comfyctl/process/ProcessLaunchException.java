package dev.comfyctl.process;

/** A process could not be started; the message names the command and the cause. */
public final class ProcessLaunchException extends RuntimeException {

    public ProcessLaunchException(String message) {
        super(message);
    }

    public ProcessLaunchException(String message, Throwable cause) {
        super(message, cause);
    }
}
