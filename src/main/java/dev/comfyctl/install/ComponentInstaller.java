package dev.comfyctl.install;

import dev.comfyctl.comfy.ComfyPython;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Installs a {@link Manifest}: the custom nodes one after another in install order, then the models, several
 * downloads at a time. A failing component is reported to the listener and in the {@link InstallReport};
 * the others go on, unless {@link Options#stopOnNodeFailure()} asks to stop at the first failing node.
 * Nothing here throws for a failing component: the report says what failed.
 */
public final class ComponentInstaller {

    /**
     * @param python              ComfyUI's python, which installs the nodes' requirements and runs their install.py
     * @param pipArgs             more pip arguments, such as {@code --no-index --find-links DIR} on an offline machine
     * @param downloadConcurrency how many models download at once
     * @param downloadRetries     further attempts after a network error, each resuming where the last stopped
     * @param firstBackoff        the wait before the first retry, doubled at each further one
     * @param dryRun              report what would be done, change nothing
     */
    public record Options(Path comfyDir, Path modelsDir, ComfyPython python, List<String> pipArgs, boolean stopOnNodeFailure,
                          int downloadConcurrency, int downloadRetries, Duration firstBackoff, boolean dryRun) {
        public Options {
            if (downloadConcurrency < 1) {
                throw new IllegalArgumentException("downloadConcurrency < 1");
            }
            if (downloadRetries < 0) {
                throw new IllegalArgumentException("downloadRetries < 0");
            }
            pipArgs = List.copyOf(pipArgs);
        }
    }

    private final Options options;
    private final InstallListener listener;
    private final Map<String, String> environment;

    /** @param environment what git, pip and install.py run with */
    public ComponentInstaller(Options options, InstallListener listener, Map<String, String> environment) {
        this.options = options;
        this.listener = listener;
        this.environment = Map.copyOf(environment);
    }

    public InstallReport install(Manifest manifest) {
        InstallReport nodes = installCustomNodes(manifest);
        if (!nodes.succeeded() && options.stopOnNodeFailure()) {
            return nodes;
        }
        return nodes.plus(installModels(manifest));
    }

    /** Only the custom nodes, as a step of its own. */
    public InstallReport installCustomNodes(Manifest manifest) {
        List<InstallReport.Failure> failures = new ArrayList<>();
        AtomicInteger planned = new AtomicInteger();
        int[] nodes = installNodes(manifest.customNodes(), failures, planned);
        return new InstallReport(nodes[0], nodes[1], 0, 0, planned.get(), failures);
    }

    /** Only the models, as a step of its own. */
    public InstallReport installModels(Manifest manifest) {
        List<InstallReport.Failure> failures = Collections.synchronizedList(new ArrayList<>());
        AtomicInteger planned = new AtomicInteger();
        int[] models = installModels(manifest.models(), failures, planned);
        return new InstallReport(0, 0, models[0], models[1], planned.get(), failures);
    }

    /** @return installed and skipped counts */
    private int[] installNodes(List<CustomNode> nodes, List<InstallReport.Failure> failures, AtomicInteger planned) {
        CustomNodeInstaller installer = new CustomNodeInstaller(options.comfyDir().resolve("custom_nodes"), options.python(),
                options.pipArgs(), environment, listener);
        int[] counts = new int[2];
        for (CustomNode node : nodes) {
            try {
                switch (installer.install(node, options.dryRun())) {
                    case INSTALLED -> counts[0]++;
                    case SKIPPED -> counts[1]++;
                    case PLANNED -> planned.incrementAndGet();
                }
            } catch (CustomNodeInstaller.NodeFailure e) {
                listener.nodeFailed(node, e.getMessage(), e.outputTail());
                failures.add(new InstallReport.Failure(InstallReport.NODE, node.name(), e.getMessage()));
                if (options.stopOnNodeFailure()) {
                    break;
                }
            }
        }
        return counts;
    }

    /** @return downloaded and skipped counts */
    private int[] installModels(List<ModelFile> models, List<InstallReport.Failure> failures, AtomicInteger planned) {
        ModelDownloader downloader = new ModelDownloader(options.modelsDir(), options.downloadRetries(), options.firstBackoff(),
                listener);
        AtomicInteger downloaded = new AtomicInteger();
        AtomicInteger skipped = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(Math.min(options.downloadConcurrency(), Math.max(1, models.size())),
                runnable -> {
                    Thread thread = new Thread(runnable, "model-download");
                    thread.setDaemon(true);
                    return thread;
                });
        try {
            List<Future<?>> downloads = new ArrayList<>();
            for (ModelFile model : models) {
                downloads.add(pool.submit(() -> {
                    try {
                        switch (downloader.install(model, options.dryRun())) {
                            case DOWNLOADED -> downloaded.incrementAndGet();
                            case SKIPPED -> skipped.incrementAndGet();
                            case PLANNED -> planned.incrementAndGet();
                        }
                    } catch (ModelDownloader.ModelFailure e) {
                        listener.modelFailed(model, e.getMessage());
                        failures.add(new InstallReport.Failure(InstallReport.MODEL, model.destination(), e.getMessage()));
                    }
                }));
            }
            for (Future<?> download : downloads) {
                download.get();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            failures.add(new InstallReport.Failure(InstallReport.MODEL, "downloads", "interrupted"));
        } catch (ExecutionException e) {
            throw new IllegalStateException("a model download failed unexpectedly", e.getCause());
        } finally {
            pool.shutdownNow();
        }
        return new int[] {downloaded.get(), skipped.get()};
    }
}
