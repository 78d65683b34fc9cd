package dev.comfyctl.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** Runs comfyctl as a real separate process, the way a user does, with an environment of the test's choosing. */
final class Comfyctl {
    record Result(int exitCode, String out, String err) {
    }

    private final Map<String, String> environment = new HashMap<>();
    private final List<String> jvmOptions = new ArrayList<>();
    private final Path workDir;
    private String classpath = System.getProperty("java.class.path");

    /** Without a HEALTH_PORT in {@code environment}, the daemon gets no health server: 9090 is shared by every test. */
    Comfyctl(Path workDir, Map<String, String> environment) {
        this.workDir = workDir;
        this.environment.put("HEALTH_PORT", "0");
        this.environment.putAll(environment);
    }

    Comfyctl with(String key, String value) {
        environment.put(key, value);
        return this;
    }

    /** JVM options for the comfyctl processes started from now on, such as a small -Xmx. */
    Comfyctl withJvmOptions(String... options) {
        jvmOptions.addAll(List.of(options));
        return this;
    }

    /** Runs comfyctl from {@code jar} (see {@code testing.ComfyctlJar}) instead of the test's class path. */
    Comfyctl fromJar(Path jar) {
        classpath = jar.toString();
        return this;
    }

    Result run(String... args) {
        Process process = spawn(args);
        try {
            if (!process.waitFor(120, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                throw new AssertionError("comfyctl " + String.join(" ", args) + " did not finish within 120 s");
            }
            return new Result(process.exitValue(), Files.readString(workDir.resolve("out.txt")),
                    Files.readString(workDir.resolve("err.txt")));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError(e);
        }
    }

    /** Starts comfyctl and returns at once; its output goes to out.txt and err.txt in the work directory. */
    Process spawn(String... args) {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command().orElse("java"));
        command.addAll(jvmOptions);
        command.addAll(List.of("-cp", classpath, Main.class.getName()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).directory(workDir.toFile())
                .redirectOutput(workDir.resolve("out.txt").toFile())
                .redirectError(workDir.resolve("err.txt").toFile());
        builder.environment().putAll(environment);
        try {
            return builder.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
