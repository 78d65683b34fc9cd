package dev.comfyctl.comfy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.entry;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelInventoryTest {

    @TempDir
    Path comfy;

    private Path file(String relative, int size) throws IOException {
        Path path = comfy.resolve(relative);
        Files.createDirectories(path.getParent());
        return Files.write(path, new byte[size]);
    }

    @Test
    void countsModelFilesPerTypeRecursivelyInNameOrder() throws IOException {
        file("models/loras/style/a.safetensors", 10);
        file("models/loras/b.safetensors", 20);
        file("models/checkpoints/sd15/deep/c.ckpt", 100);
        file("models/vae/d.pt", 1);
        file("models/upscale_models/e.pth", 2);

        ModelInventory.Result result = ModelInventory.scan(comfy);

        assertThat(result.countsByType()).containsExactly(
                entry("checkpoints", 1L), entry("loras", 2L), entry("upscale_models", 1L), entry("vae", 1L));
        assertThat(result.byType().get("loras")).isEqualTo(new ModelInventory.Folder(2, 30));
        assertThat(result.totalFiles()).isEqualTo(5);
        assertThat(result.totalBytes()).isEqualTo(133);
        assertThat(result.problems()).isEmpty();
        assertThat(result.isEmpty()).isFalse();
    }

    @Test
    void recognisesEveryModelExtensionInAnyCase() throws IOException {
        for (String name : new String[] {"a.safetensors", "b.CKPT", "c.Pt", "d.pth", "e.bin", "f.GGUF", "g.sft", "h.SafeTensors"}) {
            file("models/unet/" + name, 1);
        }

        assertThat(ModelInventory.scan(comfy).countsByType()).containsExactly(entry("unet", 8L));
    }

    @Test
    void ignoresHiddenFilesHiddenFoldersPlaceholdersAndOtherFiles() throws IOException {
        file("models/checkpoints/put_checkpoints_here", 0);
        file("models/checkpoints/.hidden.safetensors", 5);
        file("models/checkpoints/.cache/huggingface/x.safetensors", 5);
        file("models/checkpoints/readme.txt", 5);
        file("models/checkpoints/half.safetensors.part", 5);
        file("models/checkpoints/config.yaml", 5);
        file("models/.trash/old.ckpt", 5);
        file("models/stray.safetensors", 5);
        file("models/loras/put_loras_here", 0);

        ModelInventory.Result result = ModelInventory.scan(comfy);

        assertThat(result.byType()).isEmpty();
        assertThat(result.isEmpty()).isTrue();
    }

    @Test
    void aMissingInstallOrModelsFolderGivesAnEmptyResult() {
        ModelInventory.Result missingInstall = ModelInventory.scan(comfy.resolve("nowhere"));
        ModelInventory.Result noModels = ModelInventory.scan(comfy);

        for (ModelInventory.Result result : new ModelInventory.Result[] {missingInstall, noModels}) {
            assertThat(result.byType()).isEmpty();
            assertThat(result.totalFiles()).isZero();
            assertThat(result.totalBytes()).isZero();
            assertThat(result.problems()).isEmpty();
            assertThat(result.extraModelPathsConfig()).isEmpty();
        }
    }

    @Test
    void followsSymbolicLinksToSharedModelFolders() throws IOException {
        Path shared = Files.createDirectories(comfy.resolve("shared-disk/checkpoints"));
        Files.write(shared.resolve("big.safetensors"), new byte[7]);
        Files.createDirectories(comfy.resolve("models"));
        Files.createSymbolicLink(comfy.resolve("models/checkpoints"), shared);
        Files.createDirectories(comfy.resolve("models/loras"));
        Files.createSymbolicLink(comfy.resolve("models/loras/linked.safetensors"), shared.resolve("big.safetensors"));

        ModelInventory.Result result = ModelInventory.scan(comfy);

        assertThat(result.countsByType()).containsExactly(entry("checkpoints", 1L), entry("loras", 1L));
        assertThat(result.totalBytes()).isEqualTo(14);
    }

    @Test
    void reportsSymbolicLinkLoopsAndBrokenLinksInsteadOfFailing() throws IOException {
        Path loras = Files.createDirectories(comfy.resolve("models/loras"));
        file("models/loras/ok.safetensors", 3);
        Files.createSymbolicLink(loras.resolve("loop"), loras);
        Files.createSymbolicLink(loras.resolve("gone.safetensors"), comfy.resolve("deleted.safetensors"));

        ModelInventory.Result result = ModelInventory.scan(comfy);

        assertThat(result.countsByType()).containsExactly(entry("loras", 1L));
        assertThat(result.problems()).containsExactlyInAnyOrder(
                "symbolic link loop at " + loras.resolve("loop") + ", not followed",
                "broken symbolic link " + loras.resolve("gone.safetensors") + ", not counted");
    }

    @Test
    void notesExtraModelPathsYamlWithoutCountingItsFolders() throws IOException {
        Path elsewhere = Files.createDirectories(comfy.resolve("elsewhere/checkpoints"));
        Files.write(elsewhere.resolve("x.safetensors"), new byte[1]);
        Path yaml = Files.writeString(comfy.resolve("extra_model_paths.yaml"),
                "comfyui:\n    base_path: " + comfy.resolve("elsewhere") + "\n    checkpoints: checkpoints/\n");

        ModelInventory.Result result = ModelInventory.scan(comfy);

        assertThat(result.extraModelPathsConfig()).isEqualTo(Optional.of(yaml));
        assertThat(result.byType()).isEmpty();
    }

    @Test
    void decidesModelFilesByNameAlone() {
        assertThat(ModelInventory.isModelFile("flux1-dev-Q8_0.gguf")).isTrue();
        assertThat(ModelInventory.isModelFile("put_here.safetensors")).isFalse();
        assertThat(ModelInventory.isModelFile(".x.ckpt")).isFalse();
        assertThat(ModelInventory.isModelFile("notes.md")).isFalse();
    }
}
