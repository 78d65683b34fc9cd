package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.testing.ComfyUiVersions;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** comfyctl update as real processes, against a local repository of ComfyUI versions. */
@Timeout(300)
class UpdateCommandTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path temp;

    private ComfyUiVersions versions;
    private Comfyctl comfyctl;

    @BeforeEach
    void setUp() {
        versions = ComfyUiVersions.create(temp);
        comfyctl = new Comfyctl(temp, Map.of(
                "COMFYCTL_HOME", temp.resolve("state").toString(),
                "COMFYUI_DIR", versions.dir().toString(),
                "MANAGER_PORT", Integer.toString(Ports.free()),
                "COMFYUI_PORT", Integer.toString(Ports.free()),
                "GPU_MODE", "mock",
                "COMFYUI_STOP_GRACE_SECONDS", "2",
                "PIP_CONFIG_FILE", "/dev/null"));
    }

    @AfterEach
    void stopEverything() {
        comfyctl.run("stop");
    }

    private String state() throws Exception {
        return JSON.readTree(comfyctl.run("status", "--json").out()).path("instances").get(0).path("state").asText();
    }

    @Test
    void throughTheDaemonABrokenVersionIsRolledBackAndAGoodOneAndTheRollbackWork() throws Exception {
        assertThat(comfyctl.run("start").exitCode()).isZero();

        Comfyctl.Result broken = comfyctl.run("update", "--version", "v2");

        assertThat(broken.exitCode()).isEqualTo(1);
        assertThat(broken.out()).contains("through the comfyctl daemon", "[2/7] drain", "[4/7] checkout", "x [6/7] restart", "[7/7] rollback");
        assertThat(broken.err()).contains("update to v2 failed", "did not become ready", "rolled back to v1",
                ComfyUiVersions.V2_FAILURE);
        assertThat(versions.head()).isEqualTo(versions.commit("v1"));
        assertThat(state()).isEqualTo("READY");

        Comfyctl.Result good = comfyctl.run("update", "--version", "v4");

        assertThat(good.exitCode()).as(good.err()).isZero();
        assertThat(good.out()).contains("= [5/7] requirements", "ComfyUI updated from v1 to v4");
        assertThat(state()).isEqualTo("READY");

        Comfyctl.Result back = comfyctl.run("update", "--rollback");

        assertThat(back.exitCode()).as(back.err()).isZero();
        assertThat(back.out()).contains("ComfyUI updated from v4 to v1");
        assertThat(versions.head()).isEqualTo(versions.commit("v1"));
        assertThat(comfyctl.run("events", "--json").out()).contains("\"update\"", "\"update_failed\"");
    }

    @Test
    void withoutADaemonOnlyTheCheckoutMovesAndItSaysSo() {
        Comfyctl.Result updated = comfyctl.run("update", "--version", "v4");

        assertThat(updated.exitCode()).as(updated.err()).isZero();
        assertThat(updated.out()).contains("no comfyctl daemon runs", "nothing is restarted", "not started");
        assertThat(versions.head()).isEqualTo(versions.commit("v4"));
        assertThat(temp.resolve("state/daemon.json")).doesNotExist();
    }

    @Test
    void aDirtyCheckoutIsRefusedWithHowToProceed() throws Exception {
        Files.writeString(versions.dir().resolve("main.py"), "# my patch\n", java.nio.file.StandardOpenOption.APPEND);

        Comfyctl.Result refused = comfyctl.run("update");

        assertThat(refused.exitCode()).isEqualTo(1);
        assertThat(refused.err()).contains("local changes", "main.py", "stash");
        assertThat(versions.head()).isEqualTo(versions.commit("v1"));
    }

    @Test
    void versionAndRollbackTogetherAreInvalidInput() {
        Comfyctl.Result both = comfyctl.run("update", "--version", "v4", "--rollback");

        assertThat(both.exitCode()).isEqualTo(2);
        assertThat(both.err()).contains("--version and --rollback exclude each other");
    }
}
