package dev.comfyctl.gpu;

/** nvidia-smi could not answer a query whose answer matters; the message says why. */
public final class GpuQueryException extends RuntimeException {

    public GpuQueryException(String message) {
        super(message);
    }
}
