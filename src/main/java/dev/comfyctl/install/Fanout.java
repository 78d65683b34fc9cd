package dev.comfyctl.install;

import java.nio.file.Path;
import java.util.List;

/** Tells several listeners, in order. */
record Fanout(List<InstallListener> listeners) implements InstallListener {
    Fanout {
        listeners = List.copyOf(listeners);
    }

    @Override
    public void manifestResolved(Manifest manifest, String source) {
        listeners.forEach(l -> l.manifestResolved(manifest, source));
    }

    @Override
    public void nodeStarted(CustomNode node, String action) {
        listeners.forEach(l -> l.nodeStarted(node, action));
    }

    @Override
    public void nodeSkipped(CustomNode node, String reason) {
        listeners.forEach(l -> l.nodeSkipped(node, reason));
    }

    @Override
    public void nodeInstalled(CustomNode node, String message) {
        listeners.forEach(l -> l.nodeInstalled(node, message));
    }

    @Override
    public void nodeFailed(CustomNode node, String error, List<String> outputTail) {
        listeners.forEach(l -> l.nodeFailed(node, error, outputTail));
    }

    @Override
    public void nodePlanned(CustomNode node, String action) {
        listeners.forEach(l -> l.nodePlanned(node, action));
    }

    @Override
    public void modelStarted(ModelFile model, Path destination) {
        listeners.forEach(l -> l.modelStarted(model, destination));
    }

    @Override
    public void modelProgress(ModelFile model, long bytes, long total) {
        listeners.forEach(l -> l.modelProgress(model, bytes, total));
    }

    @Override
    public void modelSkipped(ModelFile model, String reason) {
        listeners.forEach(l -> l.modelSkipped(model, reason));
    }

    @Override
    public void modelDone(ModelFile model, String message) {
        listeners.forEach(l -> l.modelDone(model, message));
    }

    @Override
    public void modelFailed(ModelFile model, String error) {
        listeners.forEach(l -> l.modelFailed(model, error));
    }

    @Override
    public void modelPlanned(ModelFile model, String action) {
        listeners.forEach(l -> l.modelPlanned(model, action));
    }
}
