package dev.comfyctl.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The fake {@code nvidia-smi} (a python3 script), configured through the environment of whoever runs
 * it: {@code FAKE_GPUS=name:total_mib:free_mib;...}, {@code FAKE_NVIDIA_DRIVER},
 * {@code FAKE_NVIDIA_SMI_FAIL=1}, {@code FAKE_GPU_APPS=pid:mib;...}.
 */
public final class FakeNvidiaSmi {

    private static Path binDir;

    private FakeNvidiaSmi() {
    }

    /**
     * A directory holding only an executable {@code nvidia-smi}, to put first on a spawned process's PATH.
     * Copied out of the test resources once per JVM, because Maven's resource copy drops the executable bit.
     */
    public static synchronized Path binDir() {
        if (binDir == null) {
            binDir = copyOut();
        }
        return binDir;
    }

    private static Path copyOut() {
        try (InputStream script = FakeNvidiaSmi.class.getResourceAsStream("/fake-bin/nvidia-smi")) {
            if (script == null) {
                throw new IllegalStateException("test resource /fake-bin/nvidia-smi is missing");
            }
            Path dir = Files.createTempDirectory("fake-bin");
            Path target = dir.resolve("nvidia-smi");
            Files.copy(script, target, StandardCopyOption.REPLACE_EXISTING);
            Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rwxr-xr-x"));
            // deleteOnExit runs in reverse order of registration: the file goes before its directory.
            dir.toFile().deleteOnExit();
            target.toFile().deleteOnExit();
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot install the fake nvidia-smi", e);
        }
    }
}
