package dev.comfyctl.install;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;

/**
 * Where the manifest comes from: a file, or the discovery API. What the API answered last is kept in a cache
 * file, so a machine that is offline at its next start still knows what it should have (and, when it has it,
 * starts without touching the network).
 */
public sealed interface ManifestSource {
    /**
     * @throws ManifestException                  when the manifest is invalid
     * @throws DiscoveryClient.DiscoveryException when the API cannot be reached and nothing is cached
     */
    Manifest load(InstallListener listener);

    record File(Path path) implements ManifestSource {
        @Override
        public Manifest load(InstallListener listener) {
            Manifest manifest = ManifestReader.readFile(path);
            listener.manifestResolved(manifest, "manifest " + path);
            return manifest;
        }
    }

    /** @param cache where the last answer is kept; read back when the API cannot be reached */
    record Api(String baseUrl, List<String> workflows, List<String> collections, Path cache) implements ManifestSource {
        private static final Logger log = LoggerFactory.getLogger(ManifestSource.class);

        public Api {
            workflows = List.copyOf(workflows);
            collections = List.copyOf(collections);
        }

        @Override
        public Manifest load(InstallListener listener) {
            DiscoveryClient client = new DiscoveryClient(baseUrl);
            Manifest manifest;
            try {
                manifest = client.discover(workflows, collections);
            } catch (DiscoveryClient.DiscoveryException e) {
                if (!Files.isRegularFile(cache)) {
                    throw new DiscoveryClient.DiscoveryException(e.getMessage() + " (and no earlier answer is cached in " + cache + ")");
                }
                log.warn("{}; using the components the API gave last time, cached in {}", e.getMessage(), cache);
                Manifest cached = ManifestReader.readFile(cache);
                listener.manifestResolved(cached, cache + " (the discovery API cannot be reached: " + e.getMessage() + ")");
                return cached;
            }
            write(manifest);
            listener.manifestResolved(manifest, "discovery API " + client.base()
                    + (workflows.isEmpty() ? "" : ", workflows " + String.join(",", workflows))
                    + (collections.isEmpty() ? "" : ", collections " + String.join(",", collections)));
            return manifest;
        }

        private void write(Manifest manifest) {
            ObjectNode root = ManifestReader.JSON.createObjectNode();
            ArrayNode nodes = root.putArray("custom_nodes");
            manifest.customNodes().forEach(node -> {
                ObjectNode entry = nodes.addObject().put("name", node.name()).put("url", node.url())
                        .put("requirements", node.requirements());
                node.ref().ifPresent(ref -> entry.put("ref", ref));
                node.installOrder().ifPresent(order -> entry.put("install_order", order));
            });
            ArrayNode models = root.putArray("models");
            manifest.models().forEach(model -> {
                ObjectNode entry = models.addObject().put("url", model.url().toString()).put("folder", model.folder())
                        .put("filename", model.fileName());
                model.sha256().ifPresent(hash -> entry.put("sha256", hash));
                model.size().ifPresent(size -> entry.put("size", size));
            });
            try {
                Files.createDirectories(cache.toAbsolutePath().getParent());
                Path temporary = cache.resolveSibling(cache.getFileName() + ".tmp");
                Files.writeString(temporary, ManifestReader.JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root));
                Files.move(temporary, cache, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                log.warn("cannot cache the discovered components in {}: {}", cache, e.getMessage());
            }
        }
    }
}
