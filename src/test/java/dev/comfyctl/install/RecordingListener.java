package dev.comfyctl.install;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/** Keeps every call as a line such as "nodeInstalled Alpha: at v1 (...)", to assert on. */
final class RecordingListener implements InstallListener {
    final List<String> calls = new CopyOnWriteArrayList<>();
    final List<List<String>> failureTails = new CopyOnWriteArrayList<>();

    List<String> starting(String prefix) {
        return calls.stream().filter(call -> call.startsWith(prefix)).toList();
    }

    @Override
    public void nodeStarted(CustomNode node, String action) {
        calls.add("nodeStarted " + node.name() + ": " + action);
    }

    @Override
    public void nodeSkipped(CustomNode node, String reason) {
        calls.add("nodeSkipped " + node.name() + ": " + reason);
    }

    @Override
    public void nodeInstalled(CustomNode node, String message) {
        calls.add("nodeInstalled " + node.name() + ": " + message);
    }

    @Override
    public void nodeFailed(CustomNode node, String error, List<String> outputTail) {
        calls.add("nodeFailed " + node.name() + ": " + error);
        failureTails.add(outputTail);
    }

    @Override
    public void nodePlanned(CustomNode node, String action) {
        calls.add("nodePlanned " + node.name() + ": " + action);
    }

    @Override
    public void modelSkipped(ModelFile model, String reason) {
        calls.add("modelSkipped " + model.destination() + ": " + reason);
    }

    @Override
    public void modelDone(ModelFile model, String message) {
        calls.add("modelDone " + model.destination() + ": " + message);
    }

    @Override
    public void modelFailed(ModelFile model, String error) {
        calls.add("modelFailed " + model.destination() + ": " + error);
    }

    @Override
    public void modelPlanned(ModelFile model, String action) {
        calls.add("modelPlanned " + model.destination() + ": " + action);
    }
}
