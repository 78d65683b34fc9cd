package dev.comfyctl.proxy;

import io.vertx.core.http.Cookie;
import io.vertx.core.http.CookieSameSite;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonObject;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;

/**
 * Chooses the backend of each proxied request when several ComfyUI instances run:
 * <ol>
 *   <li>a request about a prompt ({@code /history/{id}}, {@code /api/jobs/{id}}, an interrupt naming it) goes
 *       to the instance that took that prompt;</li>
 *   <li>{@code POST /prompt} with a {@code client_id} goes to the instance where that client's WebSocket
 *       ({@code /ws?clientId=}) is connected, so the prompt's progress messages reach it;</li>
 *   <li>a browser session goes to the instance its cookie names, and keeps going there;</li>
 *   <li>any other prompt goes to the least-loaded READY instance: its queue as ComfyUI last reported it (polled
 *       every second) plus the prompts sent to it since; any other request without a cookie likewise, and
 *       gets the cookie that keeps it there.</li>
 * </ol>
 * A prompt that finds every awake instance busy while others sleep wakes one more (see {@link #wakeOneMoreIfAllBusy()}).
 * With one backend every request goes to it and no cookie is set. Thread-safe; {@code choose} is called on the
 * event loop and never blocks.
 */
public final class Balancer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Balancer.class);
    public static final String COOKIE = "comfyctl_instance";
    /** Prompts whose instance is remembered; older ones fall back to the other rules. */
    private static final int PROMPTS_REMEMBERED = 10_000;
    private static final Set<String> PROMPT_PATHS = Set.of("/prompt", "/api/prompt");
    private static final Set<String> INTERRUPT_PATHS = Set.of("/interrupt", "/api/interrupt");
    private static final List<String> PROMPT_ID_PREFIXES = List.of("/history/", "/api/history/", "/api/jobs/");
    /** No tie-break of its own: the first backend in order wins. */
    private static final Comparator<Backend> IN_ORDER = (a, b) -> 0;

    /** Where a request goes, and whether the response should carry the cookie that keeps its session there. */
    public record Choice(Backend backend, boolean setCookie) {
    }

    private final List<Backend> backends;
    /** The choice of every request when there is one backend, made once. */
    private final Choice only;
    private final Map<Backend, Load> loads = new ConcurrentHashMap<>();
    private final Map<String, Backend> webSockets = new ConcurrentHashMap<>();
    private final Map<String, Backend> prompts = Collections.synchronizedMap(new LinkedHashMap<>() {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Backend> eldest) {
            return size() > PROMPTS_REMEMBERED;
        }
    });
    private final ScheduledExecutorService poller;
    private final AtomicBoolean closed = new AtomicBoolean();

    /** What one backend has to do: its queue as last polled, plus prompts sent since that poll began. */
    private static final class Load {
        final AtomicInteger sentSincePoll = new AtomicInteger();
        /** Browser sessions given a cookie for this backend: new sessions go where there are fewest. */
        final AtomicInteger sessions = new AtomicInteger();
        volatile int queued;

        int total() {
            return queued + sentSincePoll.get();
        }
    }

    /**
     * @param pollInterval how often each READY backend's queue is read; only with several backends
     * @throws IllegalArgumentException when {@code backends} is empty or two share a name
     */
    public Balancer(List<Backend> backends, Duration pollInterval) {
        if (backends.isEmpty()) {
            throw new IllegalArgumentException("no backend");
        }
        if (backends.stream().map(Backend::name).distinct().count() != backends.size()) {
            throw new IllegalArgumentException("backend names are not unique: " + backends.stream().map(Backend::name).toList());
        }
        this.backends = List.copyOf(backends);
        this.only = new Choice(this.backends.get(0), false);
        backends.forEach(backend -> loads.put(backend, new Load()));
        if (backends.size() > 1) {
            poller = Executors.newSingleThreadScheduledExecutor(runnable -> {
                Thread thread = new Thread(runnable, "balancer-queue-poll");
                thread.setDaemon(true);
                return thread;
            });
            poller.scheduleWithFixedDelay(this::pollQueues, 0, pollInterval.toMillis(), TimeUnit.MILLISECONDS);
        } else {
            poller = null;
        }
    }

    /** Everything goes to {@code backend}. */
    public static Balancer single(Backend backend) {
        return new Balancer(List.of(backend), Duration.ZERO);
    }

    public List<Backend> backends() {
        return backends;
    }

    /** Whether the request's body decides where it goes: a small JSON body the proxy reads before choosing. */
    static boolean routesByBody(HttpServerRequest request) {
        return request.method() == HttpMethod.POST
                && (PROMPT_PATHS.contains(request.path()) || INTERRUPT_PATHS.contains(request.path()));
    }

    static boolean isPrompt(HttpServerRequest request) {
        return request.method() == HttpMethod.POST && PROMPT_PATHS.contains(request.path());
    }

    /**
     * @param body the request's JSON body when {@link #routesByBody} holds, else empty (also when it is not JSON)
     */
    public Choice choose(HttpServerRequest request, Optional<JsonObject> body) {
        if (backends.size() == 1) {
            return only;
        }
        if (isPrompt(request)) {
            wakeOneMoreIfAllBusy();
        }
        Optional<Backend> owner = promptIdIn(request, body).map(prompts::get);
        if (owner.isPresent()) {
            return new Choice(owner.get(), false);
        }
        if (isPrompt(request)) {
            Optional<Backend> listening = body.map(json -> json.getValue("client_id")).map(String::valueOf).map(webSockets::get);
            if (listening.isPresent()) {
                return new Choice(listening.get(), false);
            }
        }
        Optional<Backend> sticky = Optional.ofNullable(request.getCookie(COOKIE)).map(Cookie::getValue).flatMap(this::byName);
        if (sticky.isPresent()) {
            return new Choice(sticky.get(), false);
        }
        if (isPrompt(request) || ReverseProxy.isWebSocketUpgrade(request)) {
            // Neither starts a browser session: a page load does, and its WebSocket then follows the cookie.
            return new Choice(leastLoaded(IN_ORDER), false);
        }
        Backend chosen = leastLoaded(Comparator.comparingInt(backend -> loads.get(backend).sessions.get()));
        loads.get(chosen).sessions.incrementAndGet();
        return new Choice(chosen, true);
    }

    /** The cookie that keeps a browser session on {@code backend}. */
    public static Cookie cookie(Backend backend) {
        return Cookie.cookie(COOKIE, backend.name()).setPath("/").setHttpOnly(true).setSameSite(CookieSameSite.LAX);
    }

    /** ComfyUI accepted a prompt: requests about it go to the same backend, and it counts toward its load. */
    public void promptAccepted(Backend backend, String promptId) {
        prompts.put(promptId, backend);
        loads.get(backend).sentSincePoll.incrementAndGet();
    }

    /** A client's WebSocket is connected to {@code backend}: its prompts go there. */
    public void webSocketOpened(String clientId, Backend backend) {
        webSockets.put(clientId, backend);
    }

    public void webSocketClosed(String clientId, Backend backend) {
        webSockets.remove(clientId, backend);
    }

    /** The load the balancer sees on {@code backend}: prompts running and pending. */
    public int load(Backend backend) {
        return loads.get(backend).total();
    }

    private Optional<Backend> byName(String name) {
        return backends.stream().filter(backend -> backend.name().equals(name)).findFirst();
    }

    /**
     * READY backends first, then the least load, then {@code tieBreak}; remaining ties go to the first in order,
     * so gpu0 wakes before gpu1.
     */
    private Backend leastLoaded(Comparator<Backend> tieBreak) {
        return backends.stream()
                .min(Comparator.comparing((Backend backend) -> !backend.ready().getAsBoolean())
                        .thenComparingInt(this::load)
                        .thenComparing(tieBreak))
                .orElseThrow();
    }

    /**
     * Wakes the first sleeping backend when every awake one has prompts running or pending, so that work spreads
     * over the GPUs instead of queueing on the first. The prompt itself still goes to an awake backend: it queues
     * there rather than waiting for a cold start. One wake at a time: none while a backend is starting, and none
     * while all sleep (the prompt's own backend wakes then).
     */
    private void wakeOneMoreIfAllBusy() {
        List<Backend> awake = backends.stream().filter(backend -> backend.ready().getAsBoolean()).toList();
        if (awake.isEmpty() || awake.stream().anyMatch(backend -> load(backend) == 0)
                || backends.stream().anyMatch(backend -> backend.policy().isStarting())) {
            return;
        }
        backends.stream().filter(backend -> backend.policy().canWake()).findFirst().ifPresent(sleeping -> {
            String busy = awake.stream().map(backend -> backend.name() + " (" + load(backend) + ")").collect(Collectors.joining(", "));
            log.info("{}: woken to share the load, every awake instance is busy: {}", sleeping.name(), busy);
            sleeping.policy().wakeToShareLoad("POST /prompt while every awake instance is busy: " + busy);
        });
    }

    private static Optional<String> promptIdIn(HttpServerRequest request, Optional<JsonObject> body) {
        if (request.method() == HttpMethod.POST && INTERRUPT_PATHS.contains(request.path())) {
            return body.map(json -> json.getValue("prompt_id")).map(String::valueOf);
        }
        for (String prefix : PROMPT_ID_PREFIXES) {
            if (request.path().startsWith(prefix) && request.path().length() > prefix.length()) {
                String rest = request.path().substring(prefix.length());
                int slash = rest.indexOf('/');
                return Optional.of(slash < 0 ? rest : rest.substring(0, slash));
            }
        }
        return Optional.empty();
    }

    private void pollQueues() {
        for (Backend backend : backends) {
            Load load = loads.get(backend);
            try {
                if (!backend.ready().getAsBoolean()) {
                    load.queued = 0;
                    continue;
                }
                int sentBefore = load.sentSincePoll.get();
                load.queued = backend.queued().getAsInt();
                // Prompts sent while the queue was being read may or may not be in it: they stay counted until the next poll.
                load.sentSincePoll.addAndGet(-sentBefore);
            } catch (RuntimeException e) {
                log.debug("{}: queue not readable for balancing: {}", backend.name(), e.toString());
            }
        }
    }

    @Override
    public void close() {
        if (closed.getAndSet(true) || poller == null) {
            return;
        }
        poller.shutdownNow();
    }
}
