package dev.comfyctl.install;

import java.nio.file.Path;
import java.util.List;

/**
 * What an installation reports as it goes, for printing, the event log and traced startup steps. Custom node
 * calls come from the installing thread, in install order; model calls from the download threads, so an
 * implementation must be thread-safe. Every method has a default that ignores the call.
 */
public interface InstallListener {
    InstallListener NONE = new InstallListener() {
    };

    /** The manifest is known: {@code source} says where it came from. */
    default void manifestResolved(Manifest manifest, String source) {
    }

    /** Work on a node begins; {@code action} says what, such as "cloning URL". */
    default void nodeStarted(CustomNode node, String action) {
    }

    default void nodeSkipped(CustomNode node, String reason) {
    }

    default void nodeInstalled(CustomNode node, String message) {
    }

    /** @param outputTail the last lines of the failing command's output (git, pip or install.py) */
    default void nodeFailed(CustomNode node, String error, List<String> outputTail) {
    }

    /** In a dry run: what would be done to a node that is not up to date. */
    default void nodePlanned(CustomNode node, String action) {
    }

    default void modelStarted(ModelFile model, Path destination) {
    }

    /** @param total the whole size in bytes, or -1 when neither the server nor the manifest says */
    default void modelProgress(ModelFile model, long bytes, long total) {
    }

    default void modelSkipped(ModelFile model, String reason) {
    }

    default void modelDone(ModelFile model, String message) {
    }

    default void modelFailed(ModelFile model, String error) {
    }

    /** In a dry run: what would be done to a model that is not present with its hash. */
    default void modelPlanned(ModelFile model, String action) {
    }
}
