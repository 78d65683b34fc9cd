package dev.comfyctl.daemon;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.comfy.QueueStatus;
import dev.comfyctl.config.Config;
import dev.comfyctl.config.Source;
import dev.comfyctl.gpu.Gpu;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.gpu.GpuReport;
import dev.comfyctl.jobs.JobBackend;
import dev.comfyctl.jobs.JobService;
import dev.comfyctl.jobs.JobTarget;
import dev.comfyctl.install.ComfyUiUpdate;
import dev.comfyctl.install.UpdateSettings;
import dev.comfyctl.install.InstallReport;
import dev.comfyctl.install.Manifest;
import dev.comfyctl.install.StartupInstall;
import dev.comfyctl.process.PortOwner;
import dev.comfyctl.proxy.Backend;
import dev.comfyctl.proxy.Balancer;
import dev.comfyctl.proxy.PassiveRequests;
import dev.comfyctl.proxy.WakePolicy;
import dev.comfyctl.proxy.ReverseProxy;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.schedule.RestartScheduler;
import dev.comfyctl.supervisor.HangWatchdog;
import dev.comfyctl.supervisor.IdleStopper;
import dev.comfyctl.supervisor.InstanceSnapshot;
import dev.comfyctl.supervisor.InstanceGroup;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.supervisor.StartOutcome;
import dev.comfyctl.telemetry.DaemonEvents;
import dev.comfyctl.telemetry.InstanceTracer;
import dev.comfyctl.telemetry.MachineAttributes;
import dev.comfyctl.telemetry.Metrics;
import dev.comfyctl.telemetry.Phase;
import dev.comfyctl.telemetry.StartupSteps;
import dev.comfyctl.telemetry.Tracing;
import dev.comfyctl.web.AccessGuard;
import dev.comfyctl.web.ControlRoutes;
import dev.comfyctl.web.HealthRoutes;
import dev.comfyctl.web.HealthServer;
import dev.comfyctl.web.JobRoutes;
import dev.comfyctl.web.ManagerPage;
import dev.comfyctl.web.ScheduleRoutes;
import dev.comfyctl.web.UpdateRoutes;
import io.vertx.core.Handler;
import io.vertx.core.Vertx;
import io.vertx.core.VertxOptions;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import io.vertx.ext.web.Router;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Supplier;
import java.util.stream.Collectors;

/**
 * The long-running comfyctl process: owns the state directory, supervises ComfyUI and serves the control
 * API on {@code MANAGER_HOST:MANAGER_PORT}. Closing it stops ComfyUI first, then everything else, in
 * reverse order of start.
 */
public final class Daemon implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Daemon.class);
    private static final Duration BIND_TIMEOUT = Duration.ofSeconds(10);
    public static final String INSTANCE_NAME = InstanceGroup.SINGLE;
    /** How often the balancer reads each instance's queue, when there are several. */
    private static final Duration BALANCER_POLL = Duration.ofSeconds(1);

    private final Config config;
    private final DaemonLock lock;
    private final Vertx vertx;
    private final HttpServer server;
    private final InstanceGroup instances;
    /** The instances' policies (idle stop, hang watchdog, restart schedule, balancer), closed before the instances. */
    private final List<AutoCloseable> policies;
    private final Metrics metrics;
    private final DaemonEvents events;
    private final DaemonInfo info;
    // --- startup steps, tracing and health server ---
    private final Startup startup;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final CountDownLatch closedLatch = new CountDownLatch(1);

    /** The startup's numbered steps, where they are traced, each instance's start tracer, and the health server. */
    private record Startup(StartupSteps steps, Tracing tracing, List<InstanceTracer> tracers, Optional<HealthServer> health) {
    }

    private Daemon(Config config, DaemonLock lock, Vertx vertx, HttpServer server, InstanceGroup instances,
                   List<AutoCloseable> policies, Metrics metrics, DaemonEvents events, DaemonInfo info, Startup startup) {
        this.config = config;
        this.lock = lock;
        this.vertx = vertx;
        this.server = server;
        this.instances = instances;
        this.policies = policies;
        this.metrics = metrics;
        this.events = events;
        this.info = info;
        this.startup = startup;
    }

    /**
     * Takes the state directory, binds the control port and publishes {@code daemon.json}.
     *
     * @throws DaemonException when another daemon serves this state directory or the port cannot be bound
     */
    public static Daemon start(Config config, boolean background) {
        Tracing tracing;
        try {
            tracing = Tracing.fromEnvironment(System.getenv());
        } catch (IllegalArgumentException e) {
            throw new DaemonException(e.getMessage(), e);
        }
        return start(config, background, tracing);
    }

    /**
     * Like {@link #start(Config, boolean)}, with the startup's spans going to {@code tracing}, which the daemon
     * closes when it closes (or fails to start).
     */
    public static Daemon start(Config config, boolean background, Tracing tracing) {
        MachineAttributes machine = MachineAttributes.of(config, System.getenv());
        StartupSteps steps = new StartupSteps(tracing.tracer(), machine);
        DaemonLock lock = null;
        Vertx vertx = null;
        InstanceGroup group = null;
        List<AutoCloseable> policies = new ArrayList<>();
        Metrics metrics = null;
        DaemonEvents events = null;
        StartupProgress progress = null;
        try {
            steps.run(Phase.ENVIRONMENT, "config", "load", "Configuration", () -> describe(config));
            lock = steps.run(Phase.ENVIRONMENT, "directories", "setup", "State directory", () -> lock(config),
                    taken -> config.home() + " taken");
            // --- startup progress: what 'comfyctl start' shows and waits on until the daemon listens ---
            progress = StartupProgress.open(config.home());
            steps.watch(progress::step);
            // --- end of startup progress ---
            // Netty's epoll transport when it loads (Linux): it costs the proxy less per request and per byte than NIO.
            vertx = Vertx.vertx(new VertxOptions().setPreferNativeTransport(true));
            if (!vertx.isNativeTransportEnabled()) {
                log.info("native transport unavailable, using NIO: {}", String.valueOf(vertx.unavailableNativeTransportCause()));
            }
            metrics = new Metrics();
            GpuDetector gpuDetector = GpuDetectors.fromConfig(config);
            events = DaemonEvents.start(config, gpuDetector, "comfyctl " + Version.current() + " daemon (pid "
                    + ProcessHandle.current().pid() + ") started", Map.of("pid", ProcessHandle.current().pid(), "version", Version.current()));
            steps.publishTo(events.events());
            steps.run(Phase.HARDWARE, "gpu", "detect", "GPU detection", gpuDetector::detect, Daemon::describe);
            // --- component manifest: custom nodes and models, installed before any instance exists ---
            Optional<StartupInstall> components = StartupInstall.configured(config, events.events(), progress);
            if (components.isPresent()) {
                Manifest manifest = steps.run(Phase.COMPONENTS, "manifest", "load", "Component manifest", components.get()::loadManifest,
                        loaded -> loaded.customNodes().size() + " custom nodes, " + loaded.models().size() + " models");
                componentStep(steps, "custom_nodes", "Custom nodes", () -> components.get().installCustomNodes(manifest));
                componentStep(steps, "models", "Models", () -> components.get().installModels(manifest));
            }
            // --- end component manifest ---
            DaemonEvents eventsForPlan = events;
            // --- instances (one ComfyUI per GPU with WORKERS): each with its own idle stop and hang watchdog ---
            group = steps.run(Phase.INSTANCES, "plan", "create", "Instance plan", () -> plan(config, gpuDetector, eventsForPlan),
                    planned -> planned.all().stream().map(each -> each.name() + " on port " + each.spec().port())
                            .collect(Collectors.joining(", ")));
            List<ComfyInstance> instances = group.all();
            Map<ComfyInstance, IdleStopper> idleStoppers = new LinkedHashMap<>();
            for (ComfyInstance instance : instances) {
                events.watch(instance);
                ComfyClient client = instance.spec().client();
                IdleStopper idle = new IdleStopper(instance, client, config.idleTimeout(), config.idleCheckInterval(),
                        Clock.systemUTC(), events.events());
                policies.add(idle);
                idleStoppers.put(instance, idle);
                policies.add(new HangWatchdog(instance, client, config.healthCheckInterval(), config.healthCheckFailures(),
                        events.events()));
            }
            // One schedule for all instances: they are restarted one after another, never all at once.
            RestartScheduler scheduler = new RestartScheduler(instances, gpuDetector, config.home(), config.restartInterval(),
                    config.restartDrainMax(), config.autoRestartDisabled(), Clock.systemUTC(), events.events());
            policies.add(scheduler);
            // --- end of instances ---

            DaemonInfo info = new DaemonInfo(ProcessHandle.current().pid(), config.managerHost(), config.managerPort(),
                    background, Instant.now().toString(), Version.current());
            JsonObject daemonJson = new JsonObject().put("pid", info.pid()).put("version", info.version())
                    .put("startedAt", info.startedAt()).put("background", background)
                    .put("home", config.home().toString()).put("url", info.baseUrl());
            Router router = Router.router(vertx);
            AccessGuard guard = new AccessGuard(config.managerToken(),
                    AccessGuard.ProxyAuth.valueOf(config.proxyAuth().toUpperCase(Locale.ROOT)),
                    Optional.of(config.proxyBasicUser() + ":" + config.proxyBasicPassword()));
            router.route().handler(guard);
            ControlRoutes control = new ControlRoutes(idleStoppers, gpuDetector, daemonJson, steps);
            control.mount(router);
            new ScheduleRoutes(scheduler, gpuDetector, config).mount(router);
            // --- comfyctl update: moves ComfyUI to another version, draining and restarting every instance ---
            new UpdateRoutes(UpdateSettings.from(config, System.getenv()), instances.stream()
                    .map(each -> new ComfyUiUpdate.Supervised(each, each.spec().client())).toList(), events.events()).mount(router);
            // --- end of comfyctl update ---
            new ManagerPage(instances, control, group.first().spec().logsDir()).mount(vertx, router);
            metrics.mount(router);
            events.mount(router);
            // ---- durable job queue: a worker per instance, /jobs API ----
            JobBackend jobBackend = JobBackend.open(config, vertx);
            List<JobTarget> jobTargets = instances.stream().map(each -> new JobTarget(workerName(each.name()), each,
                    each.spec().client(), config.jobsPerInstance(), () -> scheduler.isRestarting(each),
                    idleStoppers.get(each)::activity)).toList();
            JobService jobs = JobService.start(config, jobBackend, jobTargets, events.events(),
                    () -> gpuDetector.detect().gpus().stream().map(Gpu::name).toList());
            policies.add(jobs);
            new JobRoutes(jobs, config.home().resolve("uploads")).mount(router);
            // ---- end of the job queue ----
            // --- proxy: each instance behind its own wake policy; the balancer picks one per request ---
            List<Backend> backends = new ArrayList<>();
            for (ComfyInstance instance : instances) {
                IdleStopper idle = idleStoppers.get(instance);
                WakePolicy wake = new WakePolicy(vertx, instance, idle, new PassiveRequests(config.passiveRequests()),
                        config.wakeOnRequest(), config.startupWait(), config.wakeFailedCooldown(), events.events());
                metrics.watch(instance, wake, idle);
                ComfyClient client = instance.spec().client();
                backends.add(new Backend(instance.name(),
                        SocketAddress.inetSocketAddress(instance.spec().port(), InstanceGroup.connectHost(config)), wake,
                        () -> instance.state() == InstanceState.READY && !scheduler.isRestarting(instance),
                        () -> queued(client)));
            }
            Balancer balancer = new Balancer(backends, BALANCER_POLL);
            policies.add(balancer);
            ReverseProxy proxy = new ReverseProxy(vertx, balancer, config.proxyTimeout(), metrics.proxy());
            // --- end of proxy ---
            HealthRoutes health = new HealthRoutes(instances, steps);
            health.mount(router);
            router.route().handler(ctx -> proxy.handle(ctx.request()));
            List<InstanceTracer> tracers = instances.stream()
                    .map(traced -> InstanceTracer.watch(traced, tracing.tracer(), machine)).toList();
            Vertx serving = vertx;
            Optional<HealthServer> healthServer = config.healthPort() == 0
                    ? Optional.empty()
                    : Optional.of(steps.run(Phase.SERVICES, "health_server", "start", "Health server",
                    () -> HealthServer.start(serving, config.healthHost(), config.healthPort(), health),
                    started -> "http://" + config.healthHost() + ":" + started.port() + "/health, /ready, /status"));
            Handler<HttpServerRequest> front = guard.inFrontOf(router, proxy);
            HttpServer server = steps.run(Phase.SERVICES, "manager", "start", "Manager port", () -> bind(serving, front, proxy.connectionHandler(guard::forwardsUnchecked), config),
                    bound -> "http://" + config.managerHost() + ":" + bound.actualPort());
            info.write(config.home());
            progress.close();
            log.info("comfyctl {} daemon (pid {}) listening on {}", info.version(), info.pid(), info.baseUrl());
            idleStoppers.values().forEach(IdleStopper::start);
            policies.stream().filter(HangWatchdog.class::isInstance).map(HangWatchdog.class::cast).forEach(HangWatchdog::start);
            scheduler.start();
            if (tracing.exporting()) {
                log.info("startup traces go to {}", tracing.destination());
            }
            return new Daemon(config, lock, vertx, server, group, policies, metrics, events, info,
                    new Startup(steps, tracing, tracers, healthServer));
        } catch (RuntimeException | IOException e) {
            if (progress != null) {
                progress.close();
            }
            closeInReverse(policies);
            if (group != null) {
                group.close();
            }
            if (events != null) {
                events.close();
            }
            if (vertx != null) {
                vertx.close();
            }
            if (metrics != null) {
                metrics.close();
            }
            if (lock != null) {
                closeQuietly(lock);
            }
            steps.finish();
            tracing.close();
            throw e instanceof DaemonException de ? de : new DaemonException("the daemon could not start: " + e.getMessage(), e);
        }
    }

    /** A store consumer name unique to this daemon process: a restarted daemon never takes over a dead one's leases. */
    private static String workerName(String instance) {
        String host;
        try {
            host = java.net.InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            host = "localhost";
        }
        return host + "/" + ProcessHandle.current().pid() + "/" + instance;
    }

    /**
     * The rest of the startup, after {@link #start}: each instance started when COMFYUI_AUTOSTART is on (one
     * step per instance, all at once), then the ready step. A start that fails is recorded (its step, the
     * instance's lastError, the trace), not thrown: the daemon keeps serving, so {@code /status} can tell.
     */
    public void finishStartup() {
        StartupSteps steps = startup.steps();
        List<ComfyInstance> instances = instances();
        if (!config.autostart()) {
            instances.forEach(each -> steps.skip(Phase.COMFYUI, "server", "start", "ComfyUI start: " + each.name(),
                    "COMFYUI_AUTOSTART=false: it starts on 'comfyctl start' or on the first request"));
        } else {
            List<CompletableFuture<StartOutcome>> starts = new ArrayList<>();
            for (int i = 0; i < instances.size(); i++) {
                StartupSteps.Running step = steps.begin(Phase.COMFYUI, "server", "start", "ComfyUI start: " + instances.get(i).name());
                step.span().setAttribute("instance", instances.get(i).name());
                startup.tracers().get(i).nextStartUnder(step.span());
                starts.add(instances.get(i).start(event -> { }).whenComplete((outcome, failure) -> {
                    if (failure == null) {
                        step.done("pid " + outcome.pid() + ", ready in " + outcome.timeToReady().toMillis() + " ms");
                    } else {
                        step.fail(failure instanceof CompletionException && failure.getCause() != null ? failure.getCause() : failure);
                    }
                }));
            }
            starts.forEach(start -> start.exceptionally(failure -> null).join());
        }
        List<InstanceSnapshot> notReady = instances.stream().map(ComfyInstance::snapshot)
                .filter(snapshot -> snapshot.state() != InstanceState.READY).toList();
        StartupSteps.Running ready = steps.begin(Phase.READY, "machine", "complete", "Machine ready");
        if (notReady.isEmpty()) {
            ready.done(instances.size() + " instance(s) ready");
        } else if (!config.autostart()) {
            ready.done("serving; ComfyUI not started (COMFYUI_AUTOSTART=false)");
        } else {
            ready.fail("not_ready", notReady.stream().map(snapshot -> snapshot.name() + " is " + snapshot.state()
                    + snapshot.lastError().map(error -> " (" + error + ")").orElse("")).collect(Collectors.joining("; ")));
        }
        steps.finish();
    }

    private static InstanceGroup plan(Config config, GpuDetector gpuDetector, DaemonEvents events) {
        try {
            return InstanceGroup.create(config, gpuDetector, events.events());
        } catch (IllegalArgumentException e) {
            throw new DaemonException(e.getMessage(), e);
        }
    }

    private static int queued(ComfyClient client) {
        QueueStatus queue = client.queue();
        return queue.runningCount() + queue.pendingCount();
    }

    private static String describe(Config config) {
        long changed = config.values().values().stream().filter(value -> value.source() != Source.DEFAULT).count();
        return changed + " setting(s) not at their default; config file " + config.configFile()
                + (Files.isRegularFile(config.configFile()) ? "" : " (none)");
    }

    private static String describe(GpuReport gpus) {
        String found = gpus.gpus().isEmpty() ? "no GPU" : gpus.gpus().size() + " GPU(s): "
                + gpus.gpus().stream().map(gpu -> gpu.index() + " " + gpu.name()).collect(Collectors.joining(", "));
        return found + gpus.warning().map(warning -> "; " + warning).orElse("");
    }

    // --- component manifest ---
    /** A component step: what failed shows on the step (and in /status) without ending the daemon, unless it throws. */
    private static void componentStep(StartupSteps steps, String component, String name, Supplier<InstallReport> work) {
        StartupSteps.Running step = steps.begin(Phase.COMPONENTS, component, "install", name);
        InstallReport report;
        try {
            report = work.get();
        } catch (RuntimeException e) {
            step.fail(e);
            throw e;
        }
        if (report.succeeded()) {
            step.done(report.summary());
        } else {
            step.fail("install_failed", report.summary());
        }
    }
    // --- end component manifest ---

    private static DaemonLock lock(Config config) {
        try {
            Files.createDirectories(config.home());
            return DaemonLock.tryAcquire(config.home()).orElseThrow(() -> new DaemonException(
                    "another comfyctl daemon" + DaemonInfo.read(config.home()).map(i -> " (pid " + i.pid() + ", " + i.baseUrl() + ")").orElse("")
                            + " already serves " + config.home() + "; use it ('comfyctl status'), stop it ('comfyctl stop'),"
                            + " or give this one its own COMFYCTL_HOME"));
        } catch (IOException e) {
            throw new DaemonException("cannot use the state directory " + config.home() + ": " + e.getMessage()
                    + "; set COMFYCTL_HOME to a writable directory", e);
        }
    }

    /**
     * One server, on one event loop: measured on 2 cores, a server per core gained no requests/s (the load
     * shares the cores) and its per-loop buffer pools grew the resident memory by 300 MB under bulk transfers.
     */
    private static HttpServer bind(Vertx vertx, Handler<HttpServerRequest> front, Handler<HttpConnection> connections, Config config) {
        HttpServerOptions options = new HttpServerOptions().setHost(config.managerHost()).setPort(config.managerPort())
                .setHandle100ContinueAutomatically(true)
                .setTcpNoDelay(true)
                // WebSockets are ComfyUI's, tunnelled as bytes: Vert.x's extension handler would only cost every message.
                .setPerMessageWebSocketCompressionSupported(false)
                .setPerFrameWebSocketCompressionSupported(false)
                // Bodies are relayed in pieces of this size: the default 8 KiB halves bulk throughput.
                .setMaxChunkSize(ReverseProxy.CHUNK_SIZE);
        try {
            return vertx.createHttpServer(options).connectionHandler(connections).requestHandler(front).listen()
                    .toCompletionStage().toCompletableFuture().get(BIND_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            String holder = PortOwner.find(config.managerPort())
                    .map(p -> " It is held by pid " + p.pid() + " (" + p.commandLine() + ").").orElse("");
            throw new DaemonException("cannot listen on " + config.managerHost() + ":" + config.managerPort() + " ("
                    + rootMessage(e) + ")." + holder + " Set MANAGER_PORT to a free port or stop that process", e);
        }
    }

    private static String rootMessage(Throwable e) {
        Throwable cause = e;
        while (cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause.getMessage();
    }

    public DaemonInfo info() {
        return info;
    }

    /** The first instance (the only one unless WORKERS is set). */
    public ComfyInstance instance() {
        return instances.first();
    }

    /** Every supervised instance, gpu0 first. */
    public List<ComfyInstance> instances() {
        return instances.all();
    }

    /** The port of the health server, when it has one of its own. */
    public OptionalInt healthPort() {
        return startup.health().map(health -> OptionalInt.of(health.port())).orElse(OptionalInt.empty());
    }

    /** Blocks until {@link #close()} has finished. */
    public void awaitClosed() throws InterruptedException {
        closedLatch.await();
    }

    /** Stops ComfyUI, then the control API, then releases the state directory; idempotent. */
    @Override
    public void close() {
        if (closed.getAndSet(true)) {
            return;
        }
        log.info("comfyctl daemon shutting down");
        try {
            closeInReverse(policies);
            instances.close();
            startup.health().ifPresent(HealthServer::close);
            server.close().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
            vertx.close().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
        } catch (Exception e) {
            log.warn("Timed-out or failed while shutting down: {}", e.toString());
        } finally {
            metrics.close();
            events.close();
            startup.steps().finish();
            startup.tracing().close();
            try {
                DaemonInfo.delete(config.home());
            } catch (IOException e) {
                log.warn("cannot remove {}: {}", DaemonInfo.file(config.home()), e.getMessage());
            }
            closeQuietly(lock);
            log.info("comfyctl daemon stopped");
            closedLatch.countDown();
        }
    }

    private static void closeInReverse(List<AutoCloseable> closeables) {
        for (int i = closeables.size() - 1; i >= 0; i--) {
            try {
                closeables.get(i).close();
            } catch (Exception e) {
                log.warn("closing {} failed: {}", closeables.get(i).getClass().getSimpleName(), e.toString());
            }
        }
    }

    private static void closeQuietly(DaemonLock lock) {
        try {
            lock.close();
        } catch (IOException e) {
            log.warn("cannot release the daemon lock: {}", e.getMessage());
        }
    }
}
