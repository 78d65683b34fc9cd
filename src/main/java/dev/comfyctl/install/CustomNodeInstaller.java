package dev.comfyctl.install;

import dev.comfyctl.comfy.ComfyPython;
import dev.comfyctl.process.CommandRunner;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Installs one custom node into {@code custom_nodes/<name>}: clone (or fetch when the ref is not known locally),
 * check out the ref, install its {@code requirements.txt} with ComfyUI's python, run its {@code install.py}.
 * A node already at its ref whose last installation finished is skipped without touching the network,
 * git's remotes, pip or python: a stamp in its {@code .git} directory records the commit that was installed.
 */
final class CustomNodeInstaller {
    private static final Duration GIT_TIMEOUT = Duration.ofMinutes(15);
    private static final Duration PIP_TIMEOUT = Duration.ofMinutes(60);
    private static final Duration INSTALL_SCRIPT_TIMEOUT = Duration.ofMinutes(30);
    static final String STAMP = "comfyctl-installed";

    /** A node could not be installed; the tail shows the failing command's own words. */
    static final class NodeFailure extends RuntimeException {
        private final List<String> outputTail;

        NodeFailure(String message, List<String> outputTail) {
            super(message);
            this.outputTail = List.copyOf(outputTail);
        }

        List<String> outputTail() {
            return outputTail;
        }
    }

    enum Result { INSTALLED, SKIPPED, PLANNED }

    private final Path customNodesDir;
    private final ComfyPython python;
    private final List<String> pipArgs;
    private final Map<String, String> environment;
    private final InstallListener listener;
    /** git from the PATH the commands run with, which may differ from this JVM's own. */
    private final String git;

    CustomNodeInstaller(Path customNodesDir, ComfyPython python, List<String> pipArgs, Map<String, String> environment,
                        InstallListener listener) {
        this.customNodesDir = customNodesDir;
        this.python = python;
        this.pipArgs = List.copyOf(pipArgs);
        this.environment = Map.copyOf(environment);
        this.listener = listener;
        this.git = CommandRunner.findOnPath("git", environment.get("PATH")).map(Path::toString).orElse("git");
    }

    /** @throws NodeFailure saying what failed and how to fix it */
    Result install(CustomNode node, boolean dryRun) {
        Path dir = customNodesDir.resolve(node.name());
        if (!Files.isDirectory(dir.resolve(".git"))) {
            if (Files.exists(dir) && !InstallFiles.isEmptyDirectory(dir)) {
                throw new NodeFailure(dir + " exists and is not a git checkout; move it away, or remove the node from the manifest",
                        List.of());
            }
            if (dryRun) {
                listener.nodePlanned(node, "clone " + node.url() + " at " + node.refLabel() + " into " + dir);
                return Result.PLANNED;
            }
            listener.nodeStarted(node, "cloning " + node.url());
            cloneInto(node, dir);
        }
        Optional<String> target = resolveLocally(dir, node);
        String stamp = InstallFiles.readQuietly(dir.resolve(".git").resolve(STAMP));
        String head = head(dir);
        if (target.isPresent() && target.get().equals(head) && stamp.equals(head)) {
            listener.nodeSkipped(node, "already at " + node.refLabel() + " (" + abbreviated(head) + ")");
            return Result.SKIPPED;
        }
        if (dryRun) {
            listener.nodePlanned(node, target.isPresent() && target.get().equals(head)
                    ? "finish its installation at " + node.refLabel() : "update to " + node.refLabel());
            return Result.PLANNED;
        }
        if (target.isEmpty()) {
            listener.nodeStarted(node, "fetching " + node.url() + " for " + node.refLabel());
            git(dir, "fetch", "--quiet", "--tags", "origin");
            target = resolveLocally(dir, node);
        }
        String commit = target.orElseThrow(() -> new NodeFailure(node.refLabel() + " is neither a branch, a tag nor a commit of "
                + node.url() + "; fix its 'ref' in the manifest", List.of()));
        listener.nodeStarted(node, "installing at " + node.refLabel());
        if (!commit.equals(head)) {
            git(dir, "checkout", "--quiet", commit);
        }
        installRequirements(node, dir);
        runInstallScript(dir);
        try {
            Files.writeString(dir.resolve(".git").resolve(STAMP), commit);
        } catch (IOException e) {
            throw new NodeFailure("cannot write " + dir.resolve(".git").resolve(STAMP) + ": " + e.getMessage(), List.of());
        }
        listener.nodeInstalled(node, "at " + node.refLabel() + " (" + abbreviated(commit) + ")");
        return Result.INSTALLED;
    }

    /** Clones next to the destination first, so an interrupted clone never looks like an installed node. */
    private void cloneInto(CustomNode node, Path dir) {
        Path partial = customNodesDir.resolve("." + node.name() + ".partial");
        try {
            Files.createDirectories(customNodesDir);
            deleteRecursively(partial);
            expectSuccess("git clone " + node.url(), CommandRunner.run(List.of(git, "clone", "--quiet", "--", node.url(),
                    partial.toString()), environment, GIT_TIMEOUT));
            Files.deleteIfExists(dir);
            Files.move(partial, dir);
        } catch (IOException e) {
            throw new NodeFailure("cannot put the clone into place at " + dir + ": " + e.getMessage(), List.of());
        }
    }

    /** The commit the ref names, from what the clone already holds: a tag, a commit, a local or a remote branch. */
    private Optional<String> resolveLocally(Path dir, CustomNode node) {
        if (node.ref().isEmpty()) {
            return Optional.of(head(dir));
        }
        String ref = node.ref().get();
        return revParse(dir, "refs/remotes/origin/" + ref).or(() -> revParse(dir, ref));
    }

    private Optional<String> revParse(Path dir, String ref) {
        CommandRunner.Outcome outcome = CommandRunner.run(List.of(git, "-C", dir.toString(), "rev-parse", "--verify", "--quiet",
                ref + "^{commit}"), environment, GIT_TIMEOUT);
        if (outcome instanceof CommandRunner.Exited exited && exited.exitCode() == 0) {
            return Optional.of(exited.output().strip());
        }
        if (outcome instanceof CommandRunner.Failed failed) {
            throw new NodeFailure("cannot run git: " + failed.reason() + "; install git (apt-get install git)", List.of());
        }
        return Optional.empty();
    }

    private String head(Path dir) {
        return revParse(dir, "HEAD").orElseThrow(() -> new NodeFailure(dir + " is a git checkout without a commit;"
                + " remove it and run again", List.of()));
    }

    private void installRequirements(CustomNode node, Path dir) {
        Path requirements = dir.resolve("requirements.txt");
        if (!node.requirements() || !Files.isRegularFile(requirements)) {
            return;
        }
        List<String> command = new ArrayList<>(List.of(python(dir).toString(), "-m", "pip", "--disable-pip-version-check",
                "install", "-r", requirements.toString()));
        command.addAll(pipArgs);
        expectSuccess("pip install -r " + requirements, CommandRunner.run(command, environment, PIP_TIMEOUT));
    }

    private void runInstallScript(Path dir) {
        if (!Files.isRegularFile(dir.resolve("install.py"))) {
            return;
        }
        expectSuccess("install.py", CommandRunner.run(List.of(python(dir).toString(), "install.py"), Optional.of(dir), environment,
                INSTALL_SCRIPT_TIMEOUT));
    }

    private Path python(Path dir) {
        return python.find().orElseThrow(() -> new NodeFailure(dir.getFileName() + " needs ComfyUI's python (requirements.txt"
                + " or install.py): " + python.notFound() + "; run 'comfyctl setup' or set COMFYUI_PYTHON", List.of()));
    }

    private void git(Path dir, String... arguments) {
        List<String> command = new ArrayList<>(List.of(git, "-C", dir.toString()));
        command.addAll(List.of(arguments));
        expectSuccess("git " + arguments[0], CommandRunner.run(command, environment, GIT_TIMEOUT));
    }

    private static void expectSuccess(String what, CommandRunner.Outcome outcome) {
        if (outcome instanceof CommandRunner.Exited exited) {
            if (exited.exitCode() != 0) {
                throw new NodeFailure(what + " exited with status " + exited.exitCode(), InstallFiles.tail(exited.output()));
            }
        } else if (outcome instanceof CommandRunner.TimedOut timedOut) {
            throw new NodeFailure(what + " " + timedOut.description(), List.of());
        } else if (outcome instanceof CommandRunner.Failed failed) {
            throw new NodeFailure(what + " could not run: " + failed.reason(), List.of());
        } else if (outcome instanceof CommandRunner.OutputHeldOpen held && held.exitCode() != 0) {
            throw new NodeFailure(what + " exited with status " + held.exitCode(), List.of());
        }
    }

    private static String abbreviated(String commit) {
        return commit.length() > 12 ? commit.substring(0, 12) : commit;
    }

    private static void deleteRecursively(Path path) throws IOException {
        if (!Files.exists(path)) {
            return;
        }
        try (var walk = Files.walk(path)) {
            for (Path each : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(each);
            }
        }
    }
}
