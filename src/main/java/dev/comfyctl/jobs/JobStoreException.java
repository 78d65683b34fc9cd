package dev.comfyctl.jobs;

/** The job store cannot be read or written (a damaged file, an unreachable Redis); the message names it. */
public class JobStoreException extends RuntimeException {
    public JobStoreException(String message, Throwable cause) {
        super(message, cause);
    }

    public JobStoreException(String message) {
        super(message);
    }
}
