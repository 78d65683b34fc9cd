package dev.comfyctl.install;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

import static org.assertj.core.api.Assertions.assertThat;

/** Real git repositories, wheels and commands for the offline install tests. */
final class LocalTools {
    private LocalTools() {
    }

    /** This machine's own pip configuration (extra wheel directories) must not leak into an offline test. */
    static Map<String, String> isolatedEnvironment() {
        Map<String, String> environment = new HashMap<>();
        System.getenv().forEach((key, value) -> {
            if (!key.startsWith("PIP_")) {
                environment.put(key, value);
            }
        });
        environment.put("PIP_CONFIG_FILE", "/dev/null");
        return environment;
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

    /** A minimal pure-Python wheel, so pip can install it with --no-index. */
    static void wheel(Path wheels, String name, String version) throws IOException {
        Files.createDirectories(wheels);
        String distInfo = name + "-" + version + ".dist-info/";
        Path file = wheels.resolve(name + "-" + version + "-py3-none-any.whl");
        List<String> record = new ArrayList<>();
        try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(file))) {
            entry(zip, record, name + "/__init__.py", "__version__ = \"" + version + "\"\n");
            entry(zip, record, distInfo + "METADATA", "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n");
            entry(zip, record, distInfo + "WHEEL", "Wheel-Version: 1.0\nGenerator: comfyctl-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n");
            record.add(distInfo + "RECORD,,");
            zip.putNextEntry(new ZipEntry(distInfo + "RECORD"));
            zip.write(String.join("\n", record).concat("\n").getBytes(StandardCharsets.UTF_8));
            zip.closeEntry();
        }
    }

    private static void entry(ZipOutputStream zip, List<String> record, String path, String content) throws IOException {
        zip.putNextEntry(new ZipEntry(path));
        zip.write(content.getBytes(StandardCharsets.UTF_8));
        zip.closeEntry();
        record.add(path + ",,");
    }
}
