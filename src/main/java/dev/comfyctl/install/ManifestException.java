package dev.comfyctl.install;

/** A manifest that cannot be read or used: the message names the file (or API call), the entry and the fix. */
public final class ManifestException extends RuntimeException {
    public ManifestException(String message) {
        super(message);
    }

    public ManifestException(String message, Throwable cause) {
        super(message, cause);
    }
}
