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

    /** @param onFirst called when the job gets its first listener, {@code onLast} when it loses its last */
    AutoCloseable add(String jobId, Consumer<JobEvent> listener, Runnable onFirst, Runnable onLast) {
        boolean[] first = {false};
        byJob.compute(jobId, (id, listeners) -> {
            List<Consumer<JobEvent>> list = listeners == null ? new CopyOnWriteArrayList<>() : listeners;
            first[0] = list.isEmpty();
            list.add(listener);
            return list;
        });
        if (first[0]) {
            onFirst.run();
        }
        return () -> {
            boolean[] last = {false};
            byJob.computeIfPresent(jobId, (id, listeners) -> {
                if (!listeners.remove(listener)) {
                    return listeners;
                }
                last[0] = listeners.isEmpty();
                return last[0] ? null : listeners;
            });
            if (last[0]) {
                onLast.run();
            }
        };
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
