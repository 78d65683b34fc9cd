package dev.comfyctl.cli;

import dev.comfyctl.install.CustomNode;
import dev.comfyctl.install.InstallListener;
import dev.comfyctl.install.Manifest;
import dev.comfyctl.install.ModelFile;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Prints an installation as it goes: a line per custom node step and per model outcome; download progress as a
 * bar per file in a terminal, or as a line every 25 % otherwise (logs, pipes).
 */
final class InstallPrinter implements InstallListener, AutoCloseable {
    private final PrintWriter out;
    private final boolean bars;
    private final Map<String, ProgressBar> progressBars = new ConcurrentHashMap<>();
    private final Map<String, Integer> reportedQuarters = new ConcurrentHashMap<>();

    InstallPrinter(PrintWriter out, boolean bars) {
        this.out = out;
        this.bars = bars;
    }

    private synchronized void line(String mark, String what, String message) {
        out.printf("%s %-40s %s%n", mark, what, message);
        out.flush();
    }

    @Override
    public void manifestResolved(Manifest manifest, String source) {
        line(" ", "components", manifest.customNodes().size() + " custom nodes, " + manifest.models().size()
                + " models from " + source);
    }

    @Override
    public void nodeStarted(CustomNode node, String action) {
        line(">", "custom node " + node.name(), action);
    }

    @Override
    public void nodeSkipped(CustomNode node, String reason) {
        line("=", "custom node " + node.name(), reason);
    }

    @Override
    public void nodeInstalled(CustomNode node, String message) {
        line(" ", "custom node " + node.name(), "installed " + message);
    }

    @Override
    public void nodeFailed(CustomNode node, String error, List<String> outputTail) {
        line("x", "custom node " + node.name(), "FAILED: " + error);
        outputTail.forEach(tail -> line(" ", "", "| " + tail));
    }

    @Override
    public void nodePlanned(CustomNode node, String action) {
        line("+", "custom node " + node.name(), "would " + action);
    }

    @Override
    public void modelStarted(ModelFile model, Path destination) {
        line(">", "model " + model.destination(), "downloading " + model.url());
    }

    @Override
    public void modelProgress(ModelFile model, long bytes, long total) {
        if (bars) {
            ProgressBar bar = progressBars.computeIfAbsent(model.destination(), key -> new ProgressBarBuilder()
                    .setTaskName(model.fileName()).setInitialMax(total).setUnit("MiB", 1 << 20).showSpeed()
                    .setStyle(ProgressBarStyle.ASCII).continuousUpdate().build());
            bar.maxHint(total);
            bar.stepTo(bytes);
            return;
        }
        if (total <= 0) {
            return;
        }
        int quarters = (int) (bytes * 4 / total);
        Integer before = reportedQuarters.put(model.destination(), quarters);
        if (before != null && before < quarters && quarters < 4) {
            line(" ", "model " + model.destination(), quarters * 25 + "% (" + bytes + " of " + total + " bytes)");
        }
    }

    @Override
    public void modelSkipped(ModelFile model, String reason) {
        line("=", "model " + model.destination(), reason);
    }

    @Override
    public void modelDone(ModelFile model, String message) {
        closeBar(model);
        line(" ", "model " + model.destination(), message);
    }

    @Override
    public void modelFailed(ModelFile model, String error) {
        closeBar(model);
        line("x", "model " + model.destination(), "FAILED: " + error);
    }

    @Override
    public void modelPlanned(ModelFile model, String action) {
        line("+", "model " + model.destination(), "would " + action);
    }

    private void closeBar(ModelFile model) {
        ProgressBar bar = progressBars.remove(model.destination());
        if (bar != null) {
            bar.close();
        }
    }

    @Override
    public void close() {
        progressBars.values().forEach(ProgressBar::close);
        progressBars.clear();
    }
}
