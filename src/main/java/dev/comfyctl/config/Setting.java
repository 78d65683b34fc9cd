package dev.comfyctl.config;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Function;

/**
 * Every configuration key comfyctl understands, with its default, its parser and what it means.
 * Keys are the names users set in the environment or in {@code config.env}; they follow the seeds'
 * names ({@code COMFYUI_*}, {@code MANAGER_PORT}, {@code GPU_MODE}, ...).
 */
public enum Setting {
    COMFYCTL_HOME(Parsers::path, "~/.local/state/comfyctl",
            "state directory: pid files, session logs, event log (not settable in the config file)"),
    COMFYCTL_CONFIG(Parsers::optionalPath, "",
            "config file of KEY=VALUE lines; empty = <COMFYCTL_HOME>/config.env (not settable in the config file)"),

    COMFYUI_DIR(Parsers::path, "~/ComfyUI", "ComfyUI install directory, the one holding main.py"),
    COMFYUI_REPO_URL(Parsers::text, "https://github.com/comfyanonymous/ComfyUI.git",
            "where 'comfyctl setup' clones ComfyUI from (a mirror, or a local path)"),
    TORCH_INDEX_URL(Parsers::text, "auto",
            "wheel index for PyTorch in 'comfyctl setup': auto (the CUDA build the driver supports, or CPU), none, or a URL"),
    PIP_EXTRA_ARGS(Parsers::commandLine, "",
            "more pip arguments for 'comfyctl setup', e.g. --no-index --find-links /wheels on an offline machine"),
    COMFYUI_PYTHON(Parsers::optionalPath, "",
            "python that runs ComfyUI; empty = <dir>/venv/bin/python, <dir>/.venv/bin/python or ~/.venvs/imggen/bin/python"),
    COMFYUI_START_CMD(Parsers::commandLine, "",
            "full command that starts ComfyUI, replacing '<python> main.py' (the automatic flags are still added)"),
    COMFYUI_AUTOSTART(Parsers::bool, "true",
            "start ComfyUI as soon as 'comfyctl serve' starts; false = only when asked"),
    COMFYUI_HOST(Parsers::host, "127.0.0.1", "address ComfyUI listens on (behind comfyctl)"),
    COMFYUI_PORT(Parsers::port, "8189", "port ComfyUI listens on (behind comfyctl)"),
    MANAGER_HOST(Parsers::host, "127.0.0.1", "address the daemon listens on; anything but loopback exposes it"),
    MANAGER_PORT(Parsers::port, "8188", "port of the daemon: control API, and the proxy to ComfyUI"),

    IDLE_TIMEOUT_SECONDS(Parsers.intRange(0, 31_536_000), "300",
            "stop ComfyUI after this long without activity (never while a prompt runs or waits); 0 = never"),
    IDLE_CHECK_INTERVAL(Parsers.intRange(1, 86_400), "30", "seconds between idle checks"),
    WAKE_ON_REQUEST(Parsers::bool, "true", "a request to a stopped ComfyUI starts it (passive requests excepted)"),
    STARTUP_WAIT_SECONDS(Parsers.intRange(0, 3_600), "30",
            "how long a request waits for a waking ComfyUI before it gets 503 and Retry-After"),
    PASSIVE_REQUESTS(Parsers::requestPatterns, String.join(", ", PassiveDefaults.PATTERNS),
            "requests that neither wake ComfyUI nor count as activity: 'METHOD /path', * as any method or path suffix,"
                    + " WEBSOCKET for upgrades (a forgotten tab's reconnects and polling)"),
    MANAGER_TOKEN(Parsers::text, "",
            "token the control API, /manager and /metrics require (Authorization: Bearer, ?token= or the cookie it sets);"
                    + " required when MANAGER_HOST is not loopback"),
    PROXY_AUTH(Parsers.choice("none", "token", "basic"), "none",
            "authentication in front of ComfyUI itself: none, token (MANAGER_TOKEN) or basic (PROXY_BASIC_USER/PASSWORD)"),
    PROXY_BASIC_USER(Parsers::text, "", "user name for PROXY_AUTH=basic"),
    PROXY_BASIC_PASSWORD(Parsers::text, "", "password for PROXY_AUTH=basic"),
    PROXY_TIMEOUT_SECONDS(Parsers.intRange(1, 86_400), "300",
            "how long a proxied request may go without a byte moving before it is cut"),

    GPU_MODE(Parsers.choice("auto", "nvidia", "mock", "cpu"), "auto",
            "auto: nvidia-smi when present, else CPU; nvidia: warn when nvidia-smi is missing; mock: fake GPUs; cpu: no GPU"),
    GPU_MOCK_COUNT(Parsers.intRange(1, 64), "1", "number of fake GPUs when GPU_MODE=mock"),
    GPU_MOCK_VRAM_MB(Parsers.intRange(1, 1_048_576), "24576", "VRAM of each fake GPU in MiB when GPU_MODE=mock"),
    GPU_MOCK_NAME(Parsers::text, "Mock GPU", "name of the fake GPUs when GPU_MODE=mock"),
    COMFYUI_MEMORY_MODE(Parsers.choice("auto", "gpu-only", "highvram", "normalvram", "lowvram", "novram", "cpu"), "auto",
            "ComfyUI memory flag; auto chooses from VRAM (>=20 GB gpu-only, 16-20 highvram, 8-16 normalvram, <8 lowvram)"),
    COMFYUI_DISABLE_CUDA_MALLOC(Parsers.choice("auto", "true", "false"), "auto",
            "pass --disable-cuda-malloc; auto = whenever a GPU is used"),
    COMFYUI_CUDA_DEVICE(Parsers::autoOrNonNegativeInt, "auto", "value of --cuda-device; auto = the instance's GPU index"),
    COMFYUI_EXTRA_ARGS(Parsers::commandLine, "", "extra ComfyUI arguments, split like a shell would"),

    WARMUP_WORKFLOW(Parsers::optionalPath, "",
            "an API-format workflow run after every start before ComfyUI counts as ready, so no user pays for model loading"),
    COMFYUI_START_TIMEOUT_SECONDS(Parsers.intRange(1, 86_400), "120",
            "how long ComfyUI may take to answer /system_stats before the start counts as failed"),
    COMFYUI_STOP_GRACE_SECONDS(Parsers.intRange(0, 3_600), "10",
            "how long ComfyUI gets to exit after SIGTERM before it is killed"),
    COMFYUI_RESTART_ON_CRASH(Parsers::bool, "true", "restart ComfyUI when it exits on its own"),
    COMFYUI_CRASH_MAX_RESTARTS(Parsers.intRange(0, 10_000), "5",
            "crashes in a row after which the instance stays FAILED"),
    COMFYUI_CRASH_BACKOFF_SECONDS(Parsers.intRange(0, 3_600), "1",
            "wait before the first crash restart; doubled at each further crash"),
    COMFYUI_CRASH_BACKOFF_MAX_SECONDS(Parsers.intRange(0, 86_400), "60", "longest wait between crash restarts"),

    COMFYUI_RESTART_INTERVAL(Parsers.intRange(0, 31_536_000), "21600",
            "seconds between scheduled restarts (ComfyUI leaks memory over hours); 0 = never"),
    COMFYUI_AUTO_RESTART_DISABLED(Parsers::bool, "false",
            "start with scheduled restarts off ('comfyctl schedule enable' turns them on; the choice is remembered)"),
    RESTART_DRAIN_MAX_SECONDS(Parsers.intRange(0, 86_400), "1800",
            "how long a scheduled restart waits for running and pending prompts before it restarts anyway"),
    HEALTH_CHECK_INTERVAL_SECONDS(Parsers.intRange(0, 3_600), "15",
            "seconds between health checks of a READY ComfyUI; 0 = no hang detection"),
    HEALTH_CHECK_FAILURES(Parsers.intRange(1, 1_000), "4",
            "failed health checks in a row (process alive) after which ComfyUI counts as hung and is restarted"),

    LOG_KEEP_COUNT(Parsers.intRange(1, 100_000), "20", "session logs kept (the current one always is)"),
    LOG_KEEP_MB(Parsers.intRange(1, 10_000_000), "500", "total MiB of session logs kept (the current one always is)"),

    EVENT_LOG_MAX_MB(Parsers.intRange(1, 10_000), "10",
            "size in MiB at which events.jsonl is renamed to events.jsonl.1 (one older file is kept)"),
    WEBHOOK_URLS(Parsers::webhookUrls, "",
            "comma-separated http(s) URLs that get every event as a JSON POST, retried with backoff; may hold tokens"),
    WEBHOOK_EVENTS(Parsers::eventTypes, "",
            "comma-separated event types the webhooks get (e.g. crash, hang, scheduled_restart); empty = all"),

    // Traced startup steps and the health server
    MACHINE_ID(Parsers::text, "", "name of this machine in startup traces (machine_id); empty = the host name"),
    HEALTH_HOST(Parsers::host, "127.0.0.1",
            "address of the health server (/health, /ready, /status, without token); anything but loopback exposes it"),
    HEALTH_PORT(Parsers.intRange(0, 65_535), "9090",
            "port of the health server for probes (/health, /ready, /status); 0 = none (the manager port serves them too)"),

    // Component manifest: custom nodes and models installed by 'comfyctl install' and before 'serve' starts ComfyUI
    COMPONENT_MANIFEST(Parsers::optionalPath, "",
            "JSON or YAML file of custom nodes and models, installed by 'comfyctl install' and by 'serve' before ComfyUI starts"),
    EMPROPS_API_URL(Parsers::text, "",
            "discovery API that names the custom nodes and models (/custom-nodes/defaults, /workflows/dependencies,"
                    + " /collections/dependencies), used when COMPONENT_MANIFEST is empty"),
    COMPONENTS(Parsers::text, "", "comma-separated workflows whose dependencies the discovery API adds"),
    COLLECTIONS(Parsers::text, "", "comma-separated collections whose dependencies the discovery API adds"),
    MODELS_DIR(Parsers::optionalPath, "", "where models are downloaded; empty = <COMFYUI_DIR>/models"),
    CUSTOM_NODE_FAILURE(Parsers.choice("continue", "stop"), "continue",
            "when a custom node fails to install: continue with the others, or stop (and 'serve' does not start)"),
    MODEL_DOWNLOAD_CONCURRENCY(Parsers.intRange(1, 64), "3", "how many models download at once"),
    MODEL_DOWNLOAD_RETRIES(Parsers.intRange(0, 100), "5",
            "further attempts after a network error, each resuming where the last stopped (1 s backoff, doubled each time)"),

    // One ComfyUI per GPU: how many instances, each supervised on its own
    WORKERS(Workers::parse, "comfyui:1",
            "ComfyUI instances: comfyui:N, or comfyui:auto for one per detected GPU (1 without a GPU); once set, they are"
                    + " comfyui-gpu0, comfyui-gpu1, ... on GPU 0, 1, ... and port COMFYUI_PORT + index"),

    // Durable job queue: where jobs live, and how often one is tried.
    QUEUE_URL(Parsers::queueUrl, "",
            "empty = the embedded queue (<COMFYCTL_HOME>/jobs.db); redis://[:password@]host:port/db = a fleet sharing"
                    + " one Redis (Streams); may hold a password"),
    JOB_MAX_ATTEMPTS(Parsers.intRange(1, 100), "3",
            "attempts a job gets (a crash, a lost connection, a dead worker each cost one) before it is dead-lettered"),

    // Wake on request after a failed start: requests get the failure instead of starting again and again
    WAKE_FAILED_COOLDOWN_SECONDS(Parsers.intRange(0, 86_400), "60",
            "after a start fails, requests get 503 with its reason and log tail for this long instead of each trying"
                    + " another start; 'comfyctl start' always tries (0 = every request tries)"),
    // Job queue workers and API
    JOBS_PER_INSTANCE(Parsers.intRange(1, 1_000), "2",
            "prompts an instance runs or holds queued at once; small, so that a restart drains quickly"),
    JOB_VISIBILITY_SECONDS(Parsers.intRange(1, 86_400), "30",
            "a running job whose worker stops renewing its lease for this long (a daemon killed, a machine lost) runs again elsewhere"),
    JOBS_OUTPUT_DIR(Parsers::optionalPath, "",
            "where job outputs are stored (one folder per job); empty = <COMFYCTL_HOME>/job-outputs; a fleet needs a shared directory"),
    JOB_RETENTION_HOURS(Parsers.intRange(0, 87_600), "0",
            "finished jobs (succeeded, failed, cancelled) are removed this long after they finished, with their stored"
                    + " outputs (ComfyUI's own output folder is left alone); 0 = kept for ever");

    private final Function<String, Object> parser;
    private final String defaultValue;
    private final String description;

    Setting(Function<String, Object> parser, String defaultValue, String description) {
        this.parser = parser;
        this.defaultValue = defaultValue;
        this.description = description;
    }

    public String key() {
        return name();
    }

    public String defaultValue() {
        return defaultValue;
    }

    public String description() {
        return description;
    }

    /** Never printed or logged. */
    public boolean secret() {
        return this == MANAGER_TOKEN || this == PROXY_BASIC_PASSWORD || this == WEBHOOK_URLS || this == QUEUE_URL;
    }

    /** Whether the config file may set it: the file's own location and the state directory come before it. */
    boolean fileMaySet() {
        return this != COMFYCTL_HOME && this != COMFYCTL_CONFIG;
    }

    /**
     * Parses a raw value.
     *
     * @throws IllegalArgumentException whose message says what the value must be
     */
    Object parse(String raw) {
        return parser.apply(raw.strip());
    }

    public static Optional<Setting> byKey(String key) {
        return Arrays.stream(values()).filter(s -> s.name().equals(key.toUpperCase(Locale.ROOT))).findFirst();
    }

    public static List<String> keys() {
        return Arrays.stream(values()).map(Setting::key).toList();
    }

    static Path home() {
        return Path.of(System.getProperty("user.home"));
    }
}
