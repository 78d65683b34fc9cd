package dev.comfyctl.jobs;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/** The in-process listeners of each job's events; a listener that throws is logged and kept. */
final class Subscribers {
    private static final Logger log = LoggerFactory.getLogger(Subscribers.class);

    private final Map<String, List<Consumer<JobEvent>>> byJob = new ConcurrentHashMap<>();

    /**
     * @param onFirst called when the job gets its first listener, {@code onLast} when it loses its last; both under
     *     this registry's lock, so that a subscription and an unsubscription of one job are never reordered
     */
    synchronized AutoCloseable add(String jobId, Consumer<JobEvent> listener, Runnable onFirst, Runnable onLast) {
        List<Consumer<JobEvent>> listeners = byJob.computeIfAbsent(jobId, id -> new CopyOnWriteArrayList<>());
        listeners.add(listener);
        if (listeners.size() == 1) {
            onFirst.run();
        }
        return () -> remove(jobId, listener, onLast);
    }

    private synchronized void remove(String jobId, Consumer<JobEvent> listener, Runnable onLast) {
        List<Consumer<JobEvent>> listeners = byJob.get(jobId);
        if (listeners != null && listeners.remove(listener) && listeners.isEmpty()) {
            byJob.remove(jobId);
            onLast.run();
        }
    }

    AutoCloseable add(String jobId, Consumer<JobEvent> listener) {
        return add(jobId, listener, () -> { }, () -> { });
    }

    void publish(JobEvent event) {
        for (Consumer<JobEvent> listener : byJob.getOrDefault(event.jobId(), List.of())) {
            try {
                listener.accept(event);
            } catch (RuntimeException e) {
                log.warn("a listener of job {} failed on a {} event", event.jobId(), event.type(), e);
            }
        }
    }

    void clear() {
        byJob.clear();
    }
}
