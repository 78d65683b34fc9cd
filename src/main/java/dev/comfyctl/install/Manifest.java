package dev.comfyctl.install;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** What to install: custom nodes and model files. Immutable; the nodes come out in install order. */
public record Manifest(List<CustomNode> customNodes, List<ModelFile> models) {
    public static final Manifest EMPTY = new Manifest(List.of(), List.of());

    public Manifest {
        customNodes = customNodes.stream().sorted(CustomNode.INSTALL_ORDER).toList();
        models = List.copyOf(models);
    }

    /**
     * This manifest plus what {@code other} adds: a custom node whose name is already here, or a model whose
     * destination is, is a duplicate and the first one wins (the seed's defaults, then workflows, then collections).
     */
    public Manifest merge(Manifest other) {
        Map<String, CustomNode> nodes = new LinkedHashMap<>();
        customNodes.forEach(node -> nodes.put(node.name(), node));
        other.customNodes.forEach(node -> nodes.putIfAbsent(node.name(), node));
        Map<String, ModelFile> files = new LinkedHashMap<>();
        models.forEach(model -> files.put(model.destination(), model));
        other.models.forEach(model -> files.putIfAbsent(model.destination(), model));
        return new Manifest(new ArrayList<>(nodes.values()), new ArrayList<>(files.values()));
    }

    public boolean isEmpty() {
        return customNodes.isEmpty() && models.isEmpty();
    }
}
