package dev.comfyctl.install;

import dev.comfyctl.comfy.ComfyPython;
import dev.comfyctl.testing.Wheels;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** Model downloads from a real local HTTP server: resume, hash check, refusals, parallelism. */
@Timeout(120)
class ModelDownloadTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path temp;

    private ModelServer server;
    private Path modelsDir;
    private final RecordingListener listener = new RecordingListener();

    @BeforeEach
    void startServer() throws Exception {
        server = new ModelServer();
        modelsDir = temp.resolve("ComfyUI/models");
    }

    @AfterEach
    void stopServer() throws Exception {
        server.close();
    }

    private InstallReport install(int retries, ModelFile... models) {
        return install(retries, 3, models);
    }

    private InstallReport install(int retries, int concurrency, ModelFile... models) {
        return new ComponentInstaller(new ComponentInstaller.Options(temp.resolve("ComfyUI"), modelsDir,
                new ComfyPython(temp.resolve("ComfyUI"), Optional.empty()), List.of(),
                false, concurrency, retries, Duration.ofMillis(20), false), listener, Wheels.isolatedEnvironment())
                .install(new Manifest(List.of(), List.of(models)));
    }

    private static byte[] bytes(int size, long seed) {
        byte[] content = new byte[size];
        new Random(seed).nextBytes(content);
        return content;
    }

    private static String sha256(byte[] content) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
    }

    private ModelFile model(String path, String folder, String fileName, byte[] content) throws Exception {
        server.serve(path, content);
        return new ModelFile(server.url(path), folder, fileName, Optional.of(sha256(content)), OptionalLong.of(content.length));
    }

    /** Every file under the models directory and everything beside it, hidden temporary files included. */
    private List<Path> filesUnder(Path dir) throws Exception {
        if (!Files.exists(dir)) {
            return List.of();
        }
        try (Stream<Path> walk = Files.walk(dir)) {
            return walk.filter(Files::isRegularFile).toList();
        }
    }

    @Test
    void aModelIsDownloadedIntoItsFolderTypeAndItsHashChecked() throws Exception {
        byte[] content = bytes(3 * MIB + 17, 1);

        InstallReport report = install(0, model("/sdxl.safetensors", "checkpoints", "sdxl.safetensors", content));

        assertThat(report.succeeded()).as(listener.calls.toString()).isTrue();
        assertThat(Files.readAllBytes(modelsDir.resolve("checkpoints/sdxl.safetensors"))).isEqualTo(content);
        assertThat(filesUnder(modelsDir)).containsExactly(modelsDir.resolve("checkpoints/sdxl.safetensors"));
        assertThat(listener.calls).containsExactly("modelDone checkpoints/sdxl.safetensors: downloaded to "
                + modelsDir.resolve("checkpoints/sdxl.safetensors") + ", sha256 checked");
    }

    @Test
    void anInterruptedDownloadResumesWithARangeRequest() throws Exception {
        byte[] content = bytes(4 * MIB, 2);
        ModelFile model = model("/big.safetensors", "loras", "big.safetensors", content);
        server.cut("/big.safetensors", MIB + 5, 1);

        InstallReport report = install(2, model);

        assertThat(report.succeeded()).as(listener.calls.toString()).isTrue();
        assertThat(server.rangesOf("/big.safetensors")).hasSize(2).first().isEqualTo("");
        assertThat(server.rangesOf("/big.safetensors").get(1)).matches("bytes=\\d+-").isNotEqualTo("bytes=0-");
        assertThat(Files.readAllBytes(modelsDir.resolve("loras/big.safetensors"))).isEqualTo(content);
        assertThat(filesUnder(modelsDir)).hasSize(1);
    }

    @Test
    void aDownloadCutOffUntilTheRetriesRunOutIsResumedByTheNextRun() throws Exception {
        byte[] content = bytes(2 * MIB, 3);
        ModelFile model = model("/flaky.bin", "vae", "flaky.bin", content);
        server.cut("/flaky.bin", MIB, 1);

        InstallReport first = install(0, model);

        assertThat(first.failures()).singleElement().satisfies(failure -> assertThat(failure.error())
                .contains("tried 1 times", "kept in", "the next run resumes there"));
        assertThat(modelsDir.resolve("vae/flaky.bin")).doesNotExist();
        long kept = Files.size(modelsDir.resolve("vae/.flaky.bin" + ModelDownloader.PART_SUFFIX));
        assertThat(kept).isPositive().isLessThanOrEqualTo(MIB);

        InstallReport second = install(0, model);

        assertThat(second.succeeded()).isTrue();
        assertThat(server.rangesOf("/flaky.bin").get(1)).isEqualTo("bytes=" + kept + "-");
        assertThat(Files.readAllBytes(modelsDir.resolve("vae/flaky.bin"))).isEqualTo(content);
        assertThat(filesUnder(modelsDir)).hasSize(1);
    }

    @Test
    void aWrongHashIsAnErrorThatLeavesNoFile() throws Exception {
        server.serve("/tampered.bin", bytes(MIB, 4));
        ModelFile model = new ModelFile(server.url("/tampered.bin"), "checkpoints", "tampered.bin",
                Optional.of(sha256(bytes(MIB, 5))), OptionalLong.empty());

        InstallReport report = install(3, model);

        assertThat(report.failures()).singleElement().satisfies(failure -> assertThat(failure.error())
                .contains("has sha256 " + sha256(bytes(MIB, 4)), "the manifest says " + model.sha256().get(), "was removed"));
        assertThat(filesUnder(modelsDir)).isEmpty();
        assertThat(server.requests).hasSize(1);
    }

    @Test
    void aMissingFileIsAnErrorThatIsNotRetriedAndLeavesNoFile() throws Exception {
        ModelFile model = new ModelFile(server.url("/gone.bin"), "checkpoints", "gone.bin", Optional.empty(), OptionalLong.empty());

        InstallReport report = install(3, model);

        assertThat(report.failures()).singleElement().satisfies(failure -> assertThat(failure.error())
                .contains("answered HTTP 404", "fix the model's URL"));
        assertThat(server.requests).hasSize(1);
        assertThat(filesUnder(modelsDir)).isEmpty();
    }

    @Test
    void aDestinationOutsideTheModelsDirectoryIsRefusedBeforeAnyDownload() throws Exception {
        byte[] content = bytes(1000, 6);
        ModelFile upwards = model("/a.bin", "../../escape", "a.bin", content);
        ModelFile absolute = model("/b.bin", "/tmp", "b.bin", content);
        ModelFile sneaky = model("/c.bin", "checkpoints", "../../c.bin", content);

        InstallReport report = install(0, upwards, absolute, sneaky);

        assertThat(report.failures()).hasSize(3).allSatisfy(failure -> assertThat(failure.error())
                .contains("outside the models directory", "without '..' or a leading '/'"));
        assertThat(server.requests).isEmpty();
        assertThat(filesUnder(temp)).isEmpty();
    }

    @Test
    void aDownloadThatCannotFitOnTheDiskIsRefusedAndLeavesNoFile() throws Exception {
        server.announce("/huge.bin", 1L << 60);
        ModelFile model = new ModelFile(server.url("/huge.bin"), "checkpoints", "huge.bin", Optional.empty(), OptionalLong.empty());

        InstallReport report = install(3, model);

        assertThat(report.failures()).singleElement().satisfies(failure -> assertThat(failure.error())
                .contains("not enough disk space for huge.bin", "free some space"));
        assertThat(filesUnder(modelsDir)).isEmpty();
    }

    @Test
    void aPresentFileWithTheRightHashIsSkippedWithoutANetworkRequest() throws Exception {
        byte[] content = bytes(MIB, 7);
        ModelFile model = model("/kept.bin", "upscale_models", "kept.bin", content);
        Files.createDirectories(modelsDir.resolve("upscale_models"));
        Files.write(modelsDir.resolve("upscale_models/kept.bin"), content);

        InstallReport report = install(0, model);

        assertThat(report.modelsSkipped()).isEqualTo(1);
        assertThat(server.requests).isEmpty();
    }

    @Test
    void aPresentFileWithAnotherHashIsReplaced() throws Exception {
        byte[] content = bytes(MIB, 8);
        ModelFile model = model("/replaced.bin", "checkpoints", "replaced.bin", content);
        Files.createDirectories(modelsDir.resolve("checkpoints"));
        Files.write(modelsDir.resolve("checkpoints/replaced.bin"), bytes(10, 9));

        InstallReport report = install(0, model);

        assertThat(report.modelsDownloaded()).isEqualTo(1);
        assertThat(Files.readAllBytes(modelsDir.resolve("checkpoints/replaced.bin"))).isEqualTo(content);
    }

    @Test
    void downloadsRunInParallelUpToTheLimit() throws Exception {
        server.delayResponses(300);
        ModelFile[] models = new ModelFile[5];
        for (int i = 0; i < models.length; i++) {
            models[i] = model("/m" + i + ".bin", "loras", "m" + i + ".bin", bytes(10_000, 10 + i));
        }

        InstallReport report = install(0, 2, models);

        assertThat(report.modelsDownloaded()).isEqualTo(5);
        assertThat(server.mostActive.get()).isBetween(1, 2);
    }

    /** A real full disk: a 1 MiB tmpfs, where the system allows mounting one (root); skipped elsewhere. */
    @Test
    void aDiskThatFillsUpDuringTheDownloadIsAClearErrorAndLeavesNoFile() throws Exception {
        Path small = temp.resolve("small-disk");
        Files.createDirectories(small);
        Process mount = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small.toString())
                .redirectErrorStream(true).start();
        Assumptions.assumeTrue(mount.waitFor(30, TimeUnit.SECONDS) && mount.exitValue() == 0, "cannot mount a tmpfs here (not root)");
        try {
            modelsDir = small.resolve("models");
            server.serveWithoutLength("/unsized.bin", bytes(3 * MIB, 11));
            ModelFile model = new ModelFile(server.url("/unsized.bin"), "checkpoints", "unsized.bin", Optional.empty(),
                    OptionalLong.empty());

            InstallReport report = install(3, model);

            assertThat(report.failures()).singleElement().satisfies(failure -> assertThat(failure.error())
                    .contains("the disk is full", "the partial download was removed", "Free some space"));
            assertThat(filesUnder(modelsDir)).isEmpty();
            assertThat(server.requests).hasSize(1);
        } finally {
            new ProcessBuilder("umount", small.toString()).start().waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void aDownloadThatStopsSendingIsClosedAndResumed() throws Exception {
        byte[] content = bytes(2 * MIB, 12);
        ModelFile model = model("/stuck.bin", "checkpoints", "stuck.bin", content);
        server.stall("/stuck.bin", MIB / 2, 1);
        ModelDownloader downloader = new ModelDownloader(modelsDir, 1, Duration.ofMillis(10), listener, Duration.ofMillis(500));

        assertThat(downloader.install(model, false)).isEqualTo(ModelDownloader.Result.DOWNLOADED);

        assertThat(server.rangesOf("/stuck.bin")).hasSize(2);
        assertThat(server.rangesOf("/stuck.bin").get(1)).matches("bytes=\\d+-");
        assertThat(Files.readAllBytes(modelsDir.resolve("checkpoints/stuck.bin"))).isEqualTo(content);
    }

    @Test
    void aDownloadOfAnotherSizeThanTheManifestSaysIsAnErrorThatLeavesNoFile() throws Exception {
        server.serve("/short.bin", bytes(1000, 13));
        ModelFile model = new ModelFile(server.url("/short.bin"), "vae", "short.bin", Optional.empty(), OptionalLong.of(2000));

        InstallReport report = install(0, model);

        assertThat(report.failures()).singleElement().satisfies(failure -> assertThat(failure.error())
                .contains("gave 1000 bytes but the manifest says 2000", "was removed"));
        assertThat(filesUnder(modelsDir)).isEmpty();
    }
}
