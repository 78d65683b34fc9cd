package dev.comfyctl.install;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** Real git repositories and commands for the offline install tests (wheels: {@link dev.comfyctl.testing.Wheels}). */
final class LocalTools {
    private LocalTools() {
    }

    /** A git repository at {@code dir} whose first commit holds {@code files}, tagged v1. */
    static Path repository(Path dir, Map<String, String> files) throws Exception {
        Files.createDirectories(dir);
        git(dir, "init", "--quiet");
        commit(dir, files, "v1");
        return dir;
    }

    static void commit(Path dir, Map<String, String> files, String tag) throws Exception {
        for (Map.Entry<String, String> file : files.entrySet()) {
            Files.writeString(dir.resolve(file.getKey()), file.getValue());
        }
        git(dir, "add", ".");
        git(dir, "commit", "--quiet", "-m", tag);
        git(dir, "tag", tag);
    }

    static void git(Path dir, String... arguments) throws Exception {
        List<String> command = new ArrayList<>(List.of("git", "-C", dir.toString(), "-c", "user.name=test", "-c",
                "user.email=test@example.com"));
        command.addAll(List.of(arguments));
        run(command.toArray(String[]::new));
    }

    static String run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        process.getOutputStream().close();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(120, TimeUnit.SECONDS)).isTrue();
        assertThat(process.exitValue()).as(String.join(" ", command) + "\n" + output).isZero();
        return output;
    }

    /** An executable shell script that appends its arguments to {@code log}, then runs {@code program} with them. */
    static Path loggingWrapper(Path script, Path log, Path program) throws IOException {
        Files.createDirectories(script.getParent());
        Files.writeString(script, "#!/bin/sh\necho \"$*\" >> '" + log + "'\nexec '" + program + "' \"$@\"\n");
        script.toFile().setExecutable(true);
        return script;
    }
}
