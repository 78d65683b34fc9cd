package dev.comfyctl.install;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Manifest files in YAML and JSON, and the errors a bad one gets. */
class ManifestReaderTest {
    private static final String HASH = "31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6ffb22d52ddd4";

    @TempDir
    Path temp;

    private Path file(String name, String content) throws Exception {
        Path file = temp.resolve(name);
        Files.writeString(file, content);
        return file;
    }

    @Test
    void aYamlManifestListsNodesInInstallOrderAndItsModels() throws Exception {
        Manifest manifest = ManifestReader.readFile(file("components.yaml", """
                custom_nodes:
                  - url: https://github.com/owner/ComfyUI-Zeta.git
                  - name: Second
                    url: https://github.com/owner/second.git
                    ref: v2.0
                    install_order: 20
                  - name: First
                    url: https://github.com/owner/first.git
                    install_order: "10"
                    requirements: false
                  - name: Alpha
                    url: https://github.com/owner/alpha.git
                models:
                  - url: https://example.com/files/sdxl.safetensors
                    folder: checkpoints
                    sha256: %s
                    size: 6938078334
                """.formatted(HASH.toUpperCase())));

        assertThat(manifest.customNodes()).extracting(CustomNode::name).containsExactly("First", "Second", "Alpha", "ComfyUI-Zeta");
        assertThat(manifest.customNodes().get(0)).isEqualTo(new CustomNode("First", "https://github.com/owner/first.git",
                Optional.empty(), OptionalInt.of(10), false));
        assertThat(manifest.customNodes().get(1).ref()).contains("v2.0");
        assertThat(manifest.models()).containsExactly(new ModelFile(URI.create("https://example.com/files/sdxl.safetensors"),
                "checkpoints", "sdxl.safetensors", Optional.of(HASH), OptionalLong.of(6938078334L)));
    }

    @Test
    void aJsonManifestReadsTheSame() throws Exception {
        Manifest manifest = ManifestReader.readFile(file("components.json", """
                {"custom_nodes": [{"name": "A", "url": "file:///srv/a.git", "install_order": 1}],
                 "models": [{"url": "http://127.0.0.1:9/v.pt", "folder": "vae", "filename": "vae.pt"}]}
                """));

        assertThat(manifest.customNodes()).extracting(CustomNode::name).containsExactly("A");
        assertThat(manifest.models()).extracting(ModelFile::destination).containsExactly("vae/vae.pt");
    }

    @Test
    void aMissingUrlNamesTheFileTheEntryAndTheFix() throws Exception {
        Path file = file("m.yaml", "custom_nodes:\n  - name: Broken\n    ref: main\n");

        assertThatThrownBy(() -> ManifestReader.readFile(file)).isInstanceOf(ManifestException.class)
                .hasMessage("manifest " + file + ": custom_nodes[0] (Broken) has no 'url'; give the git URL to clone,"
                        + " e.g. url: https://github.com/owner/repo.git");
    }

    @Test
    void anUnknownKeyIsReportedAsAPossibleTypo() throws Exception {
        Path file = file("m.yaml", "custom_nodes:\n  - name: A\n    url: https://x.org/a.git\n    install-order: 3\n");

        assertThatThrownBy(() -> ManifestReader.readFile(file))
                .hasMessageContaining("custom_nodes[0] (A) has the unknown key 'install-order'")
                .hasMessageContaining("is it a typo?");
    }

    @Test
    void badValuesAreNamedWithTheirEntry() throws Exception {
        assertThatThrownBy(() -> ManifestReader.readFile(file("a.yaml",
                "custom_nodes:\n  - url: https://x.org/a.git\n    install_order: first\n")))
                .hasMessageContaining("custom_nodes[0] (a) has install_order 'first', which is not a whole number");
        assertThatThrownBy(() -> ManifestReader.readFile(file("b.yaml",
                "models:\n  - url: https://x.org/m.bin\n    folder: vae\n    sha256: abc\n")))
                .hasMessageContaining("models[0] (m.bin) has sha256 'abc', which is not 64 hex digits");
        assertThatThrownBy(() -> ManifestReader.readFile(file("c.yaml", "models:\n  - url: ftp://x.org/m.bin\n    folder: vae\n")))
                .hasMessageContaining("models[0] has the URL 'ftp://x.org/m.bin', which is not http:// or https://");
        assertThatThrownBy(() -> ManifestReader.readFile(file("d.yaml", "models:\n  - url: https://x.org/m.bin\n")))
                .hasMessageContaining("models[0] (m.bin) has no 'folder'");
        assertThatThrownBy(() -> ManifestReader.readFile(file("e.yaml", "custom_nodes:\n  - name: ../up\n    url: https://x.org/a.git\n")))
                .hasMessageContaining("has the name '../up', which is not a plain directory name");
    }

    @Test
    void twoNodesWithOneNameAreAnError() throws Exception {
        Path file = file("m.json", """
                {"custom_nodes": [{"name": "A", "url": "https://x.org/a.git"}, {"name": "A", "url": "https://y.org/a.git"}]}
                """);

        assertThatThrownBy(() -> ManifestReader.readFile(file)).hasMessageContaining("custom_nodes[1] (A) has the same name as custom_nodes[0]");
    }

    @Test
    void syntaxErrorsAndMissingFilesSayWhere() throws Exception {
        Path broken = file("broken.json", "{\"custom_nodes\": [\n");

        assertThatThrownBy(() -> ManifestReader.readFile(broken)).hasMessageContaining("manifest " + broken + " is not valid JSON (line");
        assertThatThrownBy(() -> ManifestReader.readFile(temp.resolve("absent.yaml")))
                .hasMessageContaining("absent.yaml does not exist; check COMPONENT_MANIFEST or --manifest");
    }
}
