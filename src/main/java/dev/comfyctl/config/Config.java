package dev.comfyctl.config;

import dev.comfyctl.events.EventType;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * The whole configuration, resolved once (defaults &lt; config file &lt; environment &lt; flags) and never changed.
 * Every value remembers where it came from so that {@code comfyctl config} can show it.
 */
public record Config(Map<Setting, Value> values) {

    /** A resolved value: the typed form, the text it was parsed from, and its origin. */
    public record Value(Object parsed, String raw, Source source, String origin) {
    }

    public Config {
        if (values.size() != Setting.values().length) {
            throw new IllegalArgumentException("every setting needs a value, got " + values.keySet());
        }
        values = Collections.unmodifiableMap(new EnumMap<>(values));
    }

    /**
     * Problems that only show between settings, such as a daemon reachable from the network without a token.
     * Empty when the combination is sound.
     */
    public List<String> inconsistencies() {
        List<String> problems = new ArrayList<>();
        if (!managerIsLoopback() && managerToken().isEmpty()) {
            problems.add("MANAGER_HOST=" + managerHost() + " exposes the control API beyond this machine: set MANAGER_TOKEN"
                    + " to a long random secret (e.g. openssl rand -hex 32), or bind MANAGER_HOST=127.0.0.1");
        }
        if (proxyAuth().equals("token") && managerToken().isEmpty()) {
            problems.add("PROXY_AUTH=token needs MANAGER_TOKEN");
        }
        if (proxyAuth().equals("basic") && (proxyBasicUser().isEmpty() || proxyBasicPassword().isEmpty())) {
            problems.add("PROXY_AUTH=basic needs PROXY_BASIC_USER and PROXY_BASIC_PASSWORD");
        }
        if (workersConfigured() && workers().count().orElse(1) > 1 && cudaDevice().isPresent()) {
            problems.add("WORKERS=" + workers() + " runs each instance on its own GPU, but COMFYUI_CUDA_DEVICE="
                    + cudaDevice().getAsInt() + " would put them all on one: unset COMFYUI_CUDA_DEVICE (or set it to auto)");
        }
        return problems;
    }

    public Value value(Setting setting) {
        return values.get(setting);
    }

    private Object get(Setting setting) {
        return values.get(setting).parsed();
    }

    @SuppressWarnings("unchecked")
    private <T> Optional<T> optional(Setting setting) {
        return (Optional<T>) get(setting);
    }

    @SuppressWarnings("unchecked")
    private List<String> words(Setting setting) {
        return (List<String>) get(setting);
    }

    public Path home() {
        return (Path) get(Setting.COMFYCTL_HOME);
    }

    public Path configFile() {
        return this.<Path>optional(Setting.COMFYCTL_CONFIG).orElse(home().resolve("config.env"));
    }

    public Path comfyDir() {
        return (Path) get(Setting.COMFYUI_DIR);
    }

    public String repoUrl() {
        return (String) get(Setting.COMFYUI_REPO_URL);
    }

    public String torchIndexUrl() {
        return (String) get(Setting.TORCH_INDEX_URL);
    }

    public List<String> pipExtraArgs() {
        return words(Setting.PIP_EXTRA_ARGS);
    }

    public Optional<Path> python() {
        return optional(Setting.COMFYUI_PYTHON);
    }

    public List<String> startCommand() {
        return words(Setting.COMFYUI_START_CMD);
    }

    public boolean autostart() {
        return (Boolean) get(Setting.COMFYUI_AUTOSTART);
    }

    public String comfyHost() {
        return (String) get(Setting.COMFYUI_HOST);
    }

    public int comfyPort() {
        return (Integer) get(Setting.COMFYUI_PORT);
    }

    public String managerHost() {
        return (String) get(Setting.MANAGER_HOST);
    }

    public int managerPort() {
        return (Integer) get(Setting.MANAGER_PORT);
    }

    public Duration idleTimeout() {
        return Duration.ofSeconds((Integer) get(Setting.IDLE_TIMEOUT_SECONDS));
    }

    public Duration idleCheckInterval() {
        return Duration.ofSeconds((Integer) get(Setting.IDLE_CHECK_INTERVAL));
    }

    public boolean wakeOnRequest() {
        return (Boolean) get(Setting.WAKE_ON_REQUEST);
    }

    public Duration startupWait() {
        return Duration.ofSeconds((Integer) get(Setting.STARTUP_WAIT_SECONDS));
    }

    /** {@code METHOD /path} patterns, upper-case method or {@code *}, path possibly ending in {@code *}. */
    public List<String> passiveRequests() {
        return words(Setting.PASSIVE_REQUESTS);
    }

    public Optional<String> managerToken() {
        String token = (String) get(Setting.MANAGER_TOKEN);
        return token.isEmpty() ? Optional.empty() : Optional.of(token);
    }

    /** "none", "token" or "basic". */
    public String proxyAuth() {
        return (String) get(Setting.PROXY_AUTH);
    }

    public String proxyBasicUser() {
        return (String) get(Setting.PROXY_BASIC_USER);
    }

    public String proxyBasicPassword() {
        return (String) get(Setting.PROXY_BASIC_PASSWORD);
    }

    public boolean managerIsLoopback() {
        String host = managerHost();
        return host.equals("localhost") || host.startsWith("127.") || host.equals("::1");
    }

    public Duration proxyTimeout() {
        return Duration.ofSeconds((Integer) get(Setting.PROXY_TIMEOUT_SECONDS));
    }

    public String gpuMode() {
        return (String) get(Setting.GPU_MODE);
    }

    public int mockGpuCount() {
        return (Integer) get(Setting.GPU_MOCK_COUNT);
    }

    public long mockGpuVramMib() {
        return (Integer) get(Setting.GPU_MOCK_VRAM_MB);
    }

    public String mockGpuName() {
        return (String) get(Setting.GPU_MOCK_NAME);
    }

    /** "auto" or a ComfyUI memory flag name without dashes, such as "highvram". */
    public String memoryMode() {
        return (String) get(Setting.COMFYUI_MEMORY_MODE);
    }

    /** Empty for automatic (on whenever a GPU is used). */
    public Optional<Boolean> disableCudaMalloc() {
        String value = (String) get(Setting.COMFYUI_DISABLE_CUDA_MALLOC);
        return value.equals("auto") ? Optional.empty() : Optional.of(Boolean.valueOf(value));
    }

    public OptionalInt cudaDevice() {
        return (OptionalInt) get(Setting.COMFYUI_CUDA_DEVICE);
    }

    public List<String> extraArgs() {
        return words(Setting.COMFYUI_EXTRA_ARGS);
    }

    public Optional<Path> warmupWorkflow() {
        return optional(Setting.WARMUP_WORKFLOW);
    }

    public Duration startTimeout() {
        return Duration.ofSeconds((Integer) get(Setting.COMFYUI_START_TIMEOUT_SECONDS));
    }

    public Duration stopGrace() {
        return Duration.ofSeconds((Integer) get(Setting.COMFYUI_STOP_GRACE_SECONDS));
    }

    public boolean restartOnCrash() {
        return (Boolean) get(Setting.COMFYUI_RESTART_ON_CRASH);
    }

    public int maxCrashRestarts() {
        return (Integer) get(Setting.COMFYUI_CRASH_MAX_RESTARTS);
    }

    public Duration crashBackoff() {
        return Duration.ofSeconds((Integer) get(Setting.COMFYUI_CRASH_BACKOFF_SECONDS));
    }

    public Duration crashBackoffMax() {
        return Duration.ofSeconds((Integer) get(Setting.COMFYUI_CRASH_BACKOFF_MAX_SECONDS));
    }

    public Duration restartInterval() {
        return Duration.ofSeconds((Integer) get(Setting.COMFYUI_RESTART_INTERVAL));
    }

    public boolean autoRestartDisabled() {
        return (Boolean) get(Setting.COMFYUI_AUTO_RESTART_DISABLED);
    }

    public Duration restartDrainMax() {
        return Duration.ofSeconds((Integer) get(Setting.RESTART_DRAIN_MAX_SECONDS));
    }

    public Duration healthCheckInterval() {
        return Duration.ofSeconds((Integer) get(Setting.HEALTH_CHECK_INTERVAL_SECONDS));
    }

    public int healthCheckFailures() {
        return (Integer) get(Setting.HEALTH_CHECK_FAILURES);
    }

    public int logKeepCount() {
        return (Integer) get(Setting.LOG_KEEP_COUNT);
    }

    public long logKeepBytes() {
        return (Integer) get(Setting.LOG_KEEP_MB) * 1024L * 1024L;
    }

    public long eventLogMaxBytes() {
        return (Integer) get(Setting.EVENT_LOG_MAX_MB) * 1024L * 1024L;
    }

    @SuppressWarnings("unchecked")
    public List<URI> webhookUrls() {
        return (List<URI>) get(Setting.WEBHOOK_URLS);
    }

    /** The event types the webhooks get; every type when WEBHOOK_EVENTS is empty. */
    @SuppressWarnings("unchecked")
    public Set<EventType> webhookEvents() {
        return (Set<EventType>) get(Setting.WEBHOOK_EVENTS);
    }

    public Path logsDir() {
        return home().resolve("logs");
    }

    /** MACHINE_ID, or the host name when it is empty. */
    public String machineId() {
        String id = (String) get(Setting.MACHINE_ID);
        if (!id.isEmpty()) {
            return id;
        }
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            return System.getenv().getOrDefault("HOSTNAME", "unknown");
        }
    }

    public String healthHost() {
        return (String) get(Setting.HEALTH_HOST);
    }

    /** 0 when there is no health server of its own. */
    public int healthPort() {
        return (Integer) get(Setting.HEALTH_PORT);
    }

    // Component manifest

    public Optional<Path> componentManifest() {
        return optional(Setting.COMPONENT_MANIFEST);
    }

    public Optional<String> discoveryApiUrl() {
        String url = (String) get(Setting.EMPROPS_API_URL);
        return url.isEmpty() ? Optional.empty() : Optional.of(url);
    }

    public List<String> componentWorkflows() {
        return commaList(Setting.COMPONENTS);
    }

    public List<String> componentCollections() {
        return commaList(Setting.COLLECTIONS);
    }

    private List<String> commaList(Setting setting) {
        return java.util.Arrays.stream(((String) get(setting)).split(",")).map(String::strip).filter(s -> !s.isEmpty()).toList();
    }

    public Path modelsDir() {
        return this.<Path>optional(Setting.MODELS_DIR).orElse(comfyDir().resolve("models"));
    }

    public boolean stopOnCustomNodeFailure() {
        return get(Setting.CUSTOM_NODE_FAILURE).equals("stop");
    }

    public int modelDownloadConcurrency() {
        return (Integer) get(Setting.MODEL_DOWNLOAD_CONCURRENCY);
    }

    public int modelDownloadRetries() {
        return (Integer) get(Setting.MODEL_DOWNLOAD_RETRIES);
    }

    // One ComfyUI per GPU
    public Workers workers() {
        return (Workers) get(Setting.WORKERS);
    }

    /**
     * Whether WORKERS was set at all: then the instances are named {@code comfyui-gpuN}; left at its default,
     * the one instance keeps its old name {@code comfyui}, port, logs and pid file.
     */
    public boolean workersConfigured() {
        return value(Setting.WORKERS).source() != Source.DEFAULT;
    }

    /** The Redis of a fleet's job queue; empty = the embedded SQLite queue. */
    public Optional<URI> queueUrl() {
        return optional(Setting.QUEUE_URL);
    }

    public int jobMaxAttempts() {
        return (Integer) get(Setting.JOB_MAX_ATTEMPTS);
    }

    /** The embedded job queue. */
    public Path jobsDb() {
        return home().resolve("jobs.db");
    }

    // Wake on request after a failed start
    public Duration wakeFailedCooldown() {
        return Duration.ofSeconds((Integer) get(Setting.WAKE_FAILED_COOLDOWN_SECONDS));
    }

    // Job queue workers and API
    public int jobsPerInstance() {
        return (Integer) get(Setting.JOBS_PER_INSTANCE);
    }

    public Duration jobVisibility() {
        return Duration.ofSeconds((Integer) get(Setting.JOB_VISIBILITY_SECONDS));
    }

    /** How long finished jobs are kept; empty when for ever. */
    public Optional<Duration> jobRetention() {
        int hours = (Integer) get(Setting.JOB_RETENTION_HOURS);
        return hours == 0 ? Optional.empty() : Optional.of(Duration.ofHours(hours));
    }

    @SuppressWarnings("unchecked")
    public Path jobsOutputDir() {
        return ((Optional<Path>) get(Setting.JOBS_OUTPUT_DIR)).orElse(home().resolve("job-outputs"));
    }
}
