package dev.comfyctl.supervisor;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.config.Config;
import dev.comfyctl.config.Workers;
import dev.comfyctl.events.Events;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.gpu.GpuReport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * The ComfyUI instances of one daemon, each supervised on its own (state, crash backoff, pid file, session
 * logs). Without {@code WORKERS} it is the one instance {@code comfyui} on {@code COMFYUI_PORT}, as before there
 * were several; with it, {@code comfyui-gpu0 .. comfyui-gpu(N-1)}, instance i on GPU i with
 * {@code CUDA_VISIBLE_DEVICES=i}, port {@code COMFYUI_PORT + i}, logs in {@code logs/<name>/}.
 */
public final class InstanceGroup implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(InstanceGroup.class);
    /** The name of the only instance when WORKERS is not set. */
    public static final String SINGLE = "comfyui";
    private static final Duration CLIENT_TIMEOUT = Duration.ofSeconds(5);

    private final List<ComfyInstance> instances;
    private final Duration stopGrace;

    private InstanceGroup(List<ComfyInstance> instances, Duration stopGrace) {
        this.instances = List.copyOf(instances);
        this.stopGrace = stopGrace;
    }

    /**
     * Plans the instances from WORKERS and the GPUs found, and creates them, all STOPPED.
     *
     * @throws IllegalArgumentException when the plan does not fit the machine (more instances than GPUs, a port
     *     past 65535 or on MANAGER_PORT), saying which setting to change
     */
    public static InstanceGroup create(Config config, GpuDetector gpuDetector, Events events) {
        List<InstanceSpec> specs = plan(config, gpuDetector.detect());
        List<ComfyInstance> instances = specs.stream().map(spec -> new ComfyInstance(config, spec, gpuDetector, events)).toList();
        log.info("{} ComfyUI instance(s): {}", instances.size(), specs.stream()
                .map(s -> s.name() + " on port " + s.port() + s.gpuIndex().stream().mapToObj(g -> ", GPU " + g).findFirst().orElse(""))
                .collect(Collectors.joining("; ")));
        return new InstanceGroup(instances, config.stopGrace());
    }

    /** What {@link #create} would run, without creating anything. */
    public static List<InstanceSpec> plan(Config config, GpuReport gpus) {
        String host = connectHost(config);
        if (!config.workersConfigured()) {
            ComfyClient client = ComfyClient.create(URI.create("http://" + host + ":" + config.comfyPort()), CLIENT_TIMEOUT);
            return List.of(new InstanceSpec(SINGLE, config.comfyPort(), OptionalInt.empty(), config.logsDir(),
                    config.home().resolve(SINGLE + ".pid"), Map.of(), client));
        }
        Workers workers = config.workers();
        int count = workers.instances(gpus.count());
        if (!gpus.isEmpty() && count > gpus.count()) {
            throw new IllegalArgumentException("WORKERS=" + workers + " asks for " + count + " instances, one per GPU, but "
                    + gpus.count() + " GPU(s) were found: set WORKERS=comfyui:auto or comfyui:" + gpus.count());
        }
        if (count > 1 && config.cudaDevice().isPresent()) {
            throw new IllegalArgumentException("WORKERS=" + workers + " gives " + count + " instances, each on its own GPU, but"
                    + " COMFYUI_CUDA_DEVICE=" + config.cudaDevice().getAsInt() + " would put them all on one: unset COMFYUI_CUDA_DEVICE");
        }
        int lastPort = config.comfyPort() + count - 1;
        if (lastPort > 65_535) {
            throw new IllegalArgumentException("WORKERS=" + workers + " needs ports " + config.comfyPort() + " to " + lastPort
                    + " (COMFYUI_PORT + index), past 65535: lower COMFYUI_PORT");
        }
        if (config.managerPort() >= config.comfyPort() && config.managerPort() <= lastPort) {
            throw new IllegalArgumentException("WORKERS=" + workers + " puts instances on ports " + config.comfyPort() + " to "
                    + lastPort + " (COMFYUI_PORT + index), which include MANAGER_PORT " + config.managerPort()
                    + ": move COMFYUI_PORT or MANAGER_PORT");
        }
        Set<Integer> ports = IntStream.rangeClosed(config.comfyPort(), lastPort).boxed().collect(Collectors.toSet());
        List<InstanceSpec> specs = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            String name = SINGLE + "-gpu" + i;
            int port = config.comfyPort() + i;
            OptionalInt gpu = gpus.isEmpty() ? OptionalInt.empty() : OptionalInt.of(gpus.gpus().get(i).index());
            ComfyClient client = ComfyClient.create(URI.create("http://" + host + ":" + port), CLIENT_TIMEOUT);
            Set<Integer> siblings = ports.stream().filter(p -> p != port).collect(Collectors.toSet());
            specs.add(new InstanceSpec(name, port, gpu, config.logsDir().resolve(name), config.home().resolve(name + ".pid"),
                    Map.of(), client, siblings));
        }
        return specs;
    }

    /**
     * Where the session logs of the named instance are, or of the first when {@code instance} is empty; for tools
     * that read them without a daemon.
     *
     * @throws IllegalArgumentException when WORKERS does not give an instance of that name
     */
    public static Path logsDir(Config config, Optional<String> instance) {
        if (!config.workersConfigured()) {
            if (instance.isPresent() && !instance.get().equals(SINGLE)) {
                throw new IllegalArgumentException("no instance named '" + instance.get() + "': WORKERS is not set, so the only"
                        + " instance is " + SINGLE);
            }
            return config.logsDir();
        }
        String name = instance.orElse(SINGLE + "-gpu0");
        if (!name.matches(SINGLE + "-gpu\\d{1,2}")) {
            throw new IllegalArgumentException("no instance named '" + name + "': with WORKERS they are named "
                    + SINGLE + "-gpu0, " + SINGLE + "-gpu1, ... (see 'comfyctl status')");
        }
        return config.logsDir().resolve(name);
    }

    /** Where comfyctl reaches ComfyUI: its listen address, or loopback when it listens on every address. */
    public static String connectHost(Config config) {
        return config.comfyHost().equals("0.0.0.0") ? "127.0.0.1" : config.comfyHost();
    }

    /** Every instance, in order (gpu0 first). */
    public List<ComfyInstance> all() {
        return instances;
    }

    /** The first instance: what the status fields that predate several instances describe. */
    public ComfyInstance first() {
        return instances.get(0);
    }

    public Optional<ComfyInstance> byName(String name) {
        return instances.stream().filter(instance -> instance.name().equals(name)).findFirst();
    }

    public List<String> names() {
        return instances.stream().map(ComfyInstance::name).toList();
    }

    /**
     * Stops every instance at once (so shutting down takes one grace period, not one per GPU), then closes
     * them in order; idempotent.
     */
    @Override
    public void close() {
        List<CompletableFuture<StopOutcome>> stops = new ArrayList<>();
        for (ComfyInstance instance : instances) {
            stops.add(instance.stop("comfyctl is shutting down").exceptionally(e -> null));
        }
        try {
            CompletableFuture.allOf(stops.toArray(CompletableFuture[]::new))
                    .get(stopGrace.toMillis() + 5_000, TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            log.warn("Timed-out or failed waiting for the instances to stop: {}", e.toString());
        }
        instances.forEach(ComfyInstance::close);
    }
}
