package dev.comfyctl.testing;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/** A local package directory standing in for the package index: pip installs from it with {@code --no-index --find-links}. */
public final class Wheels {
    private final Path dir;

    public Wheels(Path dir) {
        this.dir = dir;
    }

    public Path dir() {
        return dir;
    }

    /** pip's arguments for installing from this directory only. */
    public List<String> pipArgs() {
        return List.of("--no-index", "--find-links", dir.toString());
    }

    /** This machine's environment without its pip configuration, which must not leak into an offline test. */
    public static Map<String, String> isolatedEnvironment() {
        Map<String, String> environment = new HashMap<>();
        System.getenv().forEach((key, value) -> {
            if (!key.startsWith("PIP_")) {
                environment.put(key, value);
            }
        });
        environment.put("PIP_CONFIG_FILE", "/dev/null");
        return environment;
    }

    /** Adds a minimal pure-Python wheel of {@code name} whose module holds {@code __version__}. */
    public Wheels add(String name, String version) {
        String distInfo = name + "-" + version + ".dist-info/";
        List<String> record = new ArrayList<>();
        try {
            Files.createDirectories(dir);
            try (ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(dir.resolve(name + "-" + version + "-py3-none-any.whl")))) {
                entry(zip, record, name + "/__init__.py", "__version__ = \"" + version + "\"\n");
                entry(zip, record, distInfo + "METADATA", "Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n");
                entry(zip, record, distInfo + "WHEEL", "Wheel-Version: 1.0\nGenerator: comfyctl-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n");
                record.add(distInfo + "RECORD,,");
                zip.putNextEntry(new ZipEntry(distInfo + "RECORD"));
                zip.write(String.join("\n", record).concat("\n").getBytes(StandardCharsets.UTF_8));
                zip.closeEntry();
            }
            return this;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write a wheel into " + dir, e);
        }
    }

    private static void entry(ZipOutputStream zip, List<String> record, String path, String content) throws IOException {
        zip.putNextEntry(new ZipEntry(path));
        zip.write(content.getBytes(StandardCharsets.UTF_8));
        zip.closeEntry();
        record.add(path + ",,");
    }
}
