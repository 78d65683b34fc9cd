package dev.comfyctl.install;

import dev.comfyctl.process.CommandRunner;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The git checkout ComfyUI runs from: which commit it is at, whether it has local changes, and moving it to
 * another commit. Versions are resolved to full commit ids before anything moves, so a version that does not
 * exist never leaves the checkout half changed.
 */
final class ComfyUiCheckout {
    private static final Duration GIT_TIMEOUT = Duration.ofMinutes(15);

    private final Path dir;
    private final Map<String, String> environment;

    ComfyUiCheckout(Path dir, Map<String, String> environment) {
        this.dir = dir;
        this.environment = Map.copyOf(environment);
    }

    Path dir() {
        return dir;
    }

    /** @throws UpdateException when {@code dir} is not a git checkout */
    String head() {
        return git("rev-parse", "HEAD").orElseThrow(() -> new UpdateException(dir + " is not a git checkout of ComfyUI,"
                + " so comfyctl cannot move it to another version; install ComfyUI with 'comfyctl setup'", List.of()));
    }

    /** Tracked files with local changes, as {@code git status --porcelain} lines; untracked files do not count. */
    List<String> localChanges() {
        return rawGit("status", "--porcelain", "--untracked-files=no")
                .map(output -> output.lines().filter(line -> !line.isBlank()).toList()).orElse(List.of());
    }

    /** A tag, branch or commit of the checkout as a commit id, fetching tags from origin when it is not known here. */
    Optional<String> resolve(String version) {
        return commitOf(version).or(() -> {
            run(List.of("fetch", "--quiet", "--tags", "origin"));
            return commitOf(version).or(() -> commitOf("origin/" + version));
        });
    }

    /** The newest commit of the default branch of origin (what its HEAD points at), after fetching it. */
    String remoteDefault() {
        run(List.of("fetch", "--quiet", "--tags", "origin", "HEAD"));
        return commitOf("FETCH_HEAD").orElseThrow(() -> new UpdateException("git fetched origin's default branch"
                + " but FETCH_HEAD names no commit in " + dir, List.of()));
    }

    /** The version a user would name: the tag at the commit, else its short id. */
    String describe(String commit) {
        return git("describe", "--tags", "--exact-match", commit).orElse(commit.substring(0, Math.min(12, commit.length())));
    }

    /** {@code path} as it is in {@code commit}, empty when the commit has no such file. */
    Optional<String> fileAt(String commit, String path) {
        return rawGit("show", commit + ":" + path);
    }

    void checkOut(String commit) {
        run(List.of("checkout", "--quiet", commit));
    }

    private Optional<String> commitOf(String name) {
        return git("rev-parse", "--verify", "--quiet", name + "^{commit}").map(String::strip);
    }

    private Optional<String> git(String... arguments) {
        return rawGit(arguments).map(String::strip);
    }

    /** The output as git wrote it, for file contents whose bytes are hashed. */
    private Optional<String> rawGit(String... arguments) {
        List<String> command = command(List.of(arguments));
        CommandRunner.Outcome outcome = CommandRunner.run(command, environment, GIT_TIMEOUT);
        if (outcome instanceof CommandRunner.Exited exited && exited.exitCode() == 0) {
            return Optional.of(exited.output());
        }
        if (outcome instanceof CommandRunner.Failed failedToRun) {
            throw new UpdateException("cannot run git: " + failedToRun.reason() + "; install git (apt-get install git)", List.of());
        }
        return Optional.empty();
    }

    private void run(List<String> arguments) {
        String what = "git " + String.join(" ", arguments) + " in " + dir;
        CommandRunner.Outcome outcome = CommandRunner.run(command(arguments), environment, GIT_TIMEOUT);
        if (outcome instanceof CommandRunner.Exited exited) {
            if (exited.exitCode() != 0) {
                throw new UpdateException(what + " exited with status " + exited.exitCode(), exited.output().lines().toList());
            }
        } else if (outcome instanceof CommandRunner.TimedOut timedOut) {
            throw new UpdateException(what + " " + timedOut.description(), List.of());
        } else if (outcome instanceof CommandRunner.Failed failedToRun) {
            throw new UpdateException("cannot run git: " + failedToRun.reason() + "; install git (apt-get install git)", List.of());
        }
    }

    private List<String> command(List<String> arguments) {
        List<String> command = new ArrayList<>(List.of("git", "-C", dir.toString()));
        command.addAll(arguments);
        return command;
    }
}
