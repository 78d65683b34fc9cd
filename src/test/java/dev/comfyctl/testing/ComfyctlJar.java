package dev.comfyctl.testing;

import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.jar.Manifest;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * comfyctl as a runnable jar, built from the compiled main classes (tests run before {@code mvn package} makes the
 * real one). Its manifest names the main class and points at the dependency jars where Maven keeps them, so
 * {@code java -jar} runs it like the shaded jar, and code that looks for its own jar finds this one.
 */
public final class ComfyctlJar {
    private ComfyctlJar() {
    }

    /** Writes the jar to {@code file} (replacing it) and returns it. */
    public static Path build(Path file) {
        List<Path> classpath = Stream.of(System.getProperty("java.class.path").split(File.pathSeparator)).map(Path::of).toList();
        Path classes = classpath.stream().filter(p -> Files.isDirectory(p) && p.getFileName().toString().equals("classes"))
                .findFirst().orElseThrow(() -> new IllegalStateException("no target/classes on " + classpath));
        Manifest manifest = new Manifest();
        manifest.getMainAttributes().put(Attributes.Name.MANIFEST_VERSION, "1.0");
        manifest.getMainAttributes().put(Attributes.Name.MAIN_CLASS, "dev.comfyctl.cli.Main");
        manifest.getMainAttributes().put(Attributes.Name.CLASS_PATH, classpath.stream()
                .filter(p -> p.toString().endsWith(".jar")).map(p -> p.toUri().toString()).collect(Collectors.joining(" ")));
        try {
            Files.createDirectories(file.getParent());
            try (OutputStream out = Files.newOutputStream(file); JarOutputStream jar = new JarOutputStream(out, manifest);
                 Stream<Path> walk = Files.walk(classes)) {
                for (Path each : walk.filter(Files::isRegularFile).sorted().toList()) {
                    jar.putNextEntry(new JarEntry(classes.relativize(each).toString().replace(File.separatorChar, '/')));
                    Files.copy(each, jar);
                    jar.closeEntry();
                }
            }
            return file;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot build " + file, e);
        }
    }
}
