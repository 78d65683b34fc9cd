package dev.comfyctl.jobs;

/** ComfyUI went away during a job (crash, restart, lost connection): the attempt can be retried. */
final class ComfyUnreachableException extends Exception {
    ComfyUnreachableException(String message, Throwable cause) {
        super(message, cause);
    }
}
