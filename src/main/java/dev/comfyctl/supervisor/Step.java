package dev.comfyctl.supervisor;

/** The steps of a start, in the order they run; each is reported as it happens. */
public enum Step {
    PREFLIGHT("preflight"),
    STRAY_PROCESSES("stray processes"),
    GPU("GPU detection"),
    FLAGS("launch flags"),
    MODELS("models"),
    SESSION_LOG("session log"),
    LAUNCH("launch ComfyUI"),
    URLS("ready");

    private final String title;

    Step(String title) {
        this.title = title;
    }

    /** 1-based, as printed. */
    public int number() {
        return ordinal() + 1;
    }

    public String title() {
        return title;
    }
}
