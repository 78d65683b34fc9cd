package dev.comfyctl.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * A local git repository standing in for ComfyUI's, and a clone of it at v1 laid out like an install, so that
 * {@code comfyctl update} can move between versions offline. The versions, oldest first:
 * <ul>
 *   <li>v1: the fake ComfyUI, requirements {@link #REQUIREMENTS_A}</li>
 *   <li>v2: a main.py that fails at startup ({@link #V2_FAILURE} on stderr, exit 1), same requirements</li>
 *   <li>v3: the fake again, requirements {@link #REQUIREMENTS_B}</li>
 *   <li>v4: the fake again, requirements {@link #REQUIREMENTS_A}; the newest of the default branch</li>
 * </ul>
 * The clone's {@code venv/bin/python} is a link to the system python without pip, so a pip run that should not
 * happen fails; {@link #realVenv()} replaces it with a virtual environment that has pip.
 */
public final class ComfyUiVersions {
    public static final String REQUIREMENTS_A = "comfyfake==1.0\n";
    public static final String REQUIREMENTS_B = "comfyfake==2.0\n";
    public static final String V2_FAILURE = "ImportError: cannot import name 'comfy_v2_node' (fake broken release)";

    private final Path origin;
    private final Path dir;

    private ComfyUiVersions(Path origin, Path dir) {
        this.origin = origin;
        this.dir = dir;
    }

    /** Creates {@code <temp>/ComfyUI-origin} with v1..v4 and clones it into {@code <temp>/ComfyUI} at v1. */
    public static ComfyUiVersions create(Path temp) {
        Path origin = temp.resolve("ComfyUI-origin");
        Path dir = temp.resolve("ComfyUI");
        try {
            Files.createDirectories(origin);
            String fake = fakeMain();
            git(origin, "init", "--quiet");
            commit(origin, "v1", fake, REQUIREMENTS_A);
            commit(origin, "v2", "import sys\nprint(\"" + V2_FAILURE + "\", file=sys.stderr)\nsys.exit(1)\n", REQUIREMENTS_A);
            commit(origin, "v3", fake + "# v3\n", REQUIREMENTS_B);
            commit(origin, "v4", fake + "# v4\n", REQUIREMENTS_A);
            git(temp, "clone", "--quiet", origin.toString(), dir.toString());
            git(dir, "checkout", "--quiet", "v1");
            for (String folder : List.of("models/checkpoints", "custom_nodes", "input", "output", "venv/bin")) {
                Files.createDirectories(dir.resolve(folder));
            }
            Files.createSymbolicLink(dir.resolve("venv/bin/python"), SystemPython.path());
            Files.writeString(dir.resolve("venv/pyvenv.cfg"), "home = " + SystemPython.path().getParent()
                    + "\ninclude-system-site-packages = false\n");
            return new ComfyUiVersions(origin, dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The install: a clone of {@link #origin()}. */
    public Path dir() {
        return dir;
    }

    public Path origin() {
        return origin;
    }

    /** The full commit id of a tag, in the origin. */
    public String commit(String tag) {
        return git(origin, "rev-parse", tag + "^{commit}").strip();
    }

    /** The commit the install is at. */
    public String head() {
        return git(dir, "rev-parse", "HEAD").strip();
    }

    /** Replaces the linked python by a real virtual environment with pip (takes seconds). */
    public Path realVenv() {
        try {
            Path venv = dir.resolve("venv");
            Files.delete(venv.resolve("bin/python"));
            Files.delete(venv.resolve("pyvenv.cfg"));
            run(List.of(SystemPython.path().toString(), "-m", "venv", "--clear", venv.toString()));
            return venv.resolve("bin/python");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void commit(Path repository, String tag, String main, String requirements) throws IOException {
        Files.writeString(repository.resolve("main.py"), main);
        Files.writeString(repository.resolve("requirements.txt"), requirements);
        git(repository, "add", ".");
        git(repository, "commit", "--quiet", "-m", tag);
        git(repository, "tag", tag);
    }

    private static String fakeMain() throws IOException {
        try (InputStream main = ComfyUiVersions.class.getResourceAsStream("/fake-comfyui/main.py")) {
            if (main == null) {
                throw new IllegalStateException("test resource /fake-comfyui/main.py is missing");
            }
            return new String(main.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    public static String git(Path dir, String... arguments) {
        List<String> command = new ArrayList<>(List.of("git", "-C", dir.toString(), "-c", "user.name=test",
                "-c", "user.email=test@example.com", "-c", "advice.detachedHead=false"));
        command.addAll(List.of(arguments));
        return run(command);
    }

    /** Runs a command to its end; fails the test when it fails. */
    public static String run(List<String> command) {
        try {
            Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
            process.getOutputStream().close();
            String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!process.waitFor(120, TimeUnit.SECONDS) || process.exitValue() != 0) {
                throw new AssertionError(String.join(" ", command) + " failed:\n" + output);
            }
            return output;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }
}
