package dev.comfyctl.install;

import dev.comfyctl.config.Config;
import dev.comfyctl.events.Event;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The installation {@code comfyctl serve} runs before any ComfyUI starts, when COMPONENT_MANIFEST or
 * EMPROPS_API_URL is set, in three parts the daemon traces as startup steps: the manifest, the custom nodes,
 * the models. Each component's outcome is logged and goes to the event log as {@code component_install};
 * download progress is logged every 10 %.
 */
public final class StartupInstall {
    private static final Logger log = LoggerFactory.getLogger(StartupInstall.class);

    private final Config config;
    private final Events events;
    private final ManifestSource source;
    private final InstallListener listener;
    private final ComponentInstaller installer;

    private StartupInstall(Config config, Events events, ManifestSource source, InstallListener listener) {
        this.config = config;
        this.events = events;
        this.source = source;
        this.listener = new Fanout(List.of(new Logging(events), listener));
        this.installer = Components.installer(config, false, this.listener, System.getenv());
    }

    /**
     * @param listener told of every component too
     * @return empty when neither COMPONENT_MANIFEST nor EMPROPS_API_URL is set
     */
    public static Optional<StartupInstall> configured(Config config, Events events, InstallListener listener) {
        return Components.configuredSource(config).map(source -> new StartupInstall(config, events, source, listener));
    }

    /**
     * @throws ManifestException                  when the manifest is invalid
     * @throws DiscoveryClient.DiscoveryException when the API cannot be reached and nothing is cached
     */
    public Manifest loadManifest() {
        return source.load(listener);
    }

    /** @throws InstallFailedException when a node failed and CUSTOM_NODE_FAILURE=stop */
    public InstallReport installCustomNodes(Manifest manifest) {
        InstallReport report = installer.installCustomNodes(manifest);
        summarize("custom nodes", report);
        if (!report.succeeded() && config.stopOnCustomNodeFailure()) {
            throw new InstallFailedException(report.summary() + "; fix it, or set CUSTOM_NODE_FAILURE=continue to start without it");
        }
        return report;
    }

    public InstallReport installModels(Manifest manifest) {
        InstallReport report = installer.installModels(manifest);
        summarize("models", report);
        return report;
    }

    private void summarize(String what, InstallReport report) {
        events.post(EventType.COMPONENT_INSTALL, Event.DAEMON, report.summary(),
                Map.of("component", what, "outcome", report.succeeded() ? "done" : "failed"));
        if (report.succeeded()) {
            log.info("{}", report.summary());
        } else {
            log.warn("{} (see above; 'comfyctl install' retries)", report.summary());
        }
    }

    /** The installation failed and the configuration says not to go on. */
    public static final class InstallFailedException extends RuntimeException {
        InstallFailedException(String message) {
            super(message);
        }
    }

    /** Log lines and events for one installation. */
    private static final class Logging implements InstallListener {
        private final Events events;
        private final Map<String, Integer> reportedTenths = new ConcurrentHashMap<>();

        Logging(Events events) {
            this.events = events;
        }

        private void post(String component, String outcome, String message) {
            events.post(EventType.COMPONENT_INSTALL, Event.DAEMON, component + ": " + message,
                    Map.of("component", component, "outcome", outcome));
        }

        @Override
        public void manifestResolved(Manifest manifest, String source) {
            log.info("components from {}: {} custom nodes, {} models", source, manifest.customNodes().size(), manifest.models().size());
        }

        @Override
        public void nodeStarted(CustomNode node, String action) {
            log.info("custom node {}: {}", node.name(), action);
        }

        @Override
        public void nodeSkipped(CustomNode node, String reason) {
            log.info("custom node {}: {}", node.name(), reason);
        }

        @Override
        public void nodeInstalled(CustomNode node, String message) {
            log.info("custom node {}: installed {}", node.name(), message);
            post("custom node " + node.name(), "installed", "installed " + message);
        }

        @Override
        public void nodeFailed(CustomNode node, String error, List<String> outputTail) {
            log.warn("custom node {} failed: {}{}", node.name(), error, outputTail.isEmpty() ? "" : "\n" + String.join("\n", outputTail));
            post("custom node " + node.name(), "failed", error);
        }

        @Override
        public void modelStarted(ModelFile model, Path destination) {
            log.info("model {}: downloading {} to {}", model.fileName(), model.url(), destination);
        }

        @Override
        public void modelProgress(ModelFile model, long bytes, long total) {
            if (total <= 0) {
                return;
            }
            int tenths = (int) (bytes * 10 / total);
            Integer before = reportedTenths.put(model.destination(), tenths);
            if (before != null && before < tenths) {
                log.info("model {}: {}% ({} of {} bytes)", model.fileName(), tenths * 10, bytes, total);
            }
        }

        @Override
        public void modelSkipped(ModelFile model, String reason) {
            log.info("model {}: {}", model.fileName(), reason);
        }

        @Override
        public void modelDone(ModelFile model, String message) {
            log.info("model {}: {}", model.fileName(), message);
            post("model " + model.destination(), "downloaded", message);
        }

        @Override
        public void modelFailed(ModelFile model, String error) {
            log.warn("model {} failed: {}", model.fileName(), error);
            post("model " + model.destination(), "failed", error);
        }
    }
}
