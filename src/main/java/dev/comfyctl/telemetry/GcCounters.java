package dev.comfyctl.telemetry;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;

import java.lang.management.GarbageCollectorMXBean;
import java.lang.management.ManagementFactory;
import java.util.concurrent.TimeUnit;

/**
 * Collections and the time spent in them, per collector, read from the JVM's counters at each scrape.
 *
 * <p>Micrometer's {@code JvmGcMetrics} listens to GC notifications instead: the JVM then builds a
 * notification with its full memory-pool report after every collection, and under proxy load (dozens of young
 * collections a second in the daemon's small heap) that cost a quarter of the process's CPU.
 */
final class GcCounters implements MeterBinder {
    @Override
    public void bindTo(MeterRegistry registry) {
        for (GarbageCollectorMXBean collector : ManagementFactory.getGarbageCollectorMXBeans()) {
            FunctionCounter.builder("jvm.gc.collections", collector, GarbageCollectorMXBean::getCollectionCount)
                    .tag("gc", collector.getName())
                    .description("Garbage collections since the JVM started")
                    .register(registry);
            FunctionCounter.builder("jvm.gc.collection.time", collector, c -> c.getCollectionTime() / (double) TimeUnit.SECONDS.toMillis(1))
                    .tag("gc", collector.getName())
                    .baseUnit("seconds")
                    .description("Time spent in garbage collections since the JVM started")
                    .register(registry);
        }
    }
}
