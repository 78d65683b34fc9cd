package dev.comfyctl.proxy;

/** Carries a {@link Rejection} out of {@link ProxyPolicy#admit}. */
public final class RejectedException extends RuntimeException {
    private final Rejection rejection;

    public RejectedException(Rejection rejection) {
        super("rejected with " + rejection.status(), null, false, false);
        this.rejection = rejection;
    }

    public Rejection rejection() {
        return rejection;
    }
}
