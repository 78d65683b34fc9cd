package dev.comfyctl.service;

/** Installing or removing the service failed; the message says what was already done and what to do. */
public final class ServiceException extends RuntimeException {

    public ServiceException(String message, Throwable cause) {
        super(message, cause);
    }

    public ServiceException(String message) {
        super(message);
    }
}
