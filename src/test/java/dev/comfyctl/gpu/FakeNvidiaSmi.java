package dev.comfyctl.gpu;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HashMap;
import java.util.Map;

/** Puts the fake nvidia-smi (test resource gpu/nvidia-smi) into a directory and builds environments for it. */
final class FakeNvidiaSmi {

    private FakeNvidiaSmi() {
    }

    /**
     * Copies the fake into {@code binDir} as an executable {@code nvidia-smi}: Maven does not keep the
     * executable bit when it copies test resources.
     */
    static Path install(Path binDir) throws IOException {
        Files.createDirectories(binDir);
        Path target = binDir.resolve("nvidia-smi");
        try (InputStream in = FakeNvidiaSmi.class.getResourceAsStream("/gpu/nvidia-smi")) {
            if (in == null) {
                throw new IllegalStateException("test resource /gpu/nvidia-smi is missing");
            }
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
        }
        if (!target.toFile().setExecutable(true)) {
            throw new IllegalStateException("cannot make " + target + " executable");
        }
        return target;
    }

    /** An environment with {@code binDir} first on this JVM's PATH (the fake needs sh utilities) plus {@code vars}. */
    static Map<String, String> environment(Path binDir, Map<String, String> vars) {
        Map<String, String> env = new HashMap<>(vars);
        env.put("PATH", binDir + ":" + System.getenv("PATH"));
        return env;
    }
}
