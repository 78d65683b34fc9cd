package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Ports;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** comfyctl submit, jobs and fleet as real processes against a daemon and the fake ComfyUI. */
class JobCommandsTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String WORKFLOW = """
            {"prompt": {"1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 32, "batch_size": 2, "color": 255}},
                        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "cli"}}}}""";

    @TempDir
    Path temp;

    private FakeComfyUi fake;
    private Comfyctl comfyctl;

    @BeforeEach
    void setUp() {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        comfyctl = new Comfyctl(temp, Map.of(
                "COMFYCTL_HOME", temp.resolve("state").toString(),
                "COMFYUI_DIR", fake.dir().toString(),
                "MANAGER_PORT", Integer.toString(Ports.free()),
                "COMFYUI_PORT", Integer.toString(Ports.free()),
                "HEALTH_PORT", Integer.toString(Ports.free()),
                "GPU_MODE", "mock",
                "GPU_MOCK_NAME", "NVIDIA GeForce RTX 4090",
                "COMFYUI_STOP_GRACE_SECONDS", "2"));
    }

    @AfterEach
    void stopEverything() {
        comfyctl.run("stop");
    }

    @Test
    void submitWaitSavesEveryOutputAndJobsListAndShowReportIt() throws Exception {
        assertThat(comfyctl.run("start").exitCode()).isZero();
        Path workflow = Files.writeString(temp.resolve("workflow.json"), WORKFLOW);
        Path out = temp.resolve("results");

        Comfyctl.Result submitted = comfyctl.run("submit", workflow.toString(), "--wait", "--out", out.toString());

        assertThat(submitted.exitCode()).as(submitted.err()).isZero();
        assertThat(submitted.out()).contains("queued", "saved", "succeeded");
        String id = submitted.out().lines().findFirst().orElseThrow().split(" ")[1];
        JsonNode shown = JSON.readTree(comfyctl.run("jobs", "show", id).out());
        assertThat(shown.path("outputs")).hasSize(2);
        for (JsonNode output : shown.path("outputs")) {
            byte[] saved = Files.readAllBytes(out.resolve(output.path("filename").asText()));
            assertThat(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(saved)))
                    .isEqualTo(output.path("sha256").asText());
        }
        Comfyctl.Result listed = comfyctl.run("jobs", "list", "--state", "succeeded");
        assertThat(listed.out()).contains(id, "succeeded", "100%");
        Comfyctl.Result fleet = comfyctl.run("fleet");
        assertThat(fleet.exitCode()).as(fleet.err()).isZero();
        assertThat(fleet.out()).contains("NVIDIA GeForce RTX 4090", "1 machine(s)");
    }

    @Test
    void jobsCancelRemovesAQueuedJob() throws Exception {
        fake.behave(Map.of("prompt_seconds", 30));
        comfyctl.with("JOBS_PER_INSTANCE", "1");
        assertThat(comfyctl.run("start").exitCode()).isZero();
        Path workflow = Files.writeString(temp.resolve("workflow.json"), WORKFLOW);
        String first = comfyctl.run("submit", workflow.toString()).out().split(" ")[1];
        String second = comfyctl.run("submit", workflow.toString()).out().split(" ")[1];
        await().atMost(Duration.ofSeconds(60)).until(() -> comfyctl.run("jobs", "list", "--state", "running").out().contains(first));

        Comfyctl.Result cancelled = comfyctl.run("jobs", "cancel", second);
        Comfyctl.Result interrupted = comfyctl.run("jobs", "cancel", first);

        assertThat(cancelled.out()).contains("job " + second + " cancelled");
        assertThat(interrupted.out()).contains("job " + first + " is being interrupted");
        await().atMost(Duration.ofSeconds(60)).until(() -> comfyctl.run("jobs", "list", "--state", "cancelled").out().contains(first));
    }

    @Test
    void anInvalidWorkflowIsRefusedWithComfyUisNodeErrorAndExitTwo() throws Exception {
        assertThat(comfyctl.run("start").exitCode()).isZero();
        Path workflow = Files.writeString(temp.resolve("bad.json"), """
                {"prompt": {"2": {"class_type": "SaveImage", "inputs": {"images": ["7", 0], "filename_prefix": "x"}}}}""");

        Comfyctl.Result submitted = comfyctl.run("submit", workflow.toString());

        assertThat(submitted.exitCode()).isEqualTo(2);
        assertThat(submitted.err()).contains("Prompt outputs failed validation", "Linked node does not exist");
        assertThat(comfyctl.run("jobs").out()).contains("no jobs");
    }

    @Test
    void badInputIsExitTwoAndNoDaemonIsExitThreeEachWithTheFix() throws Exception {
        Path workflow = Files.writeString(temp.resolve("workflow.json"), WORKFLOW);
        Comfyctl.Result missingFile = comfyctl.run("submit", temp.resolve("nowhere.json").toString());
        Comfyctl.Result outWithoutWait = comfyctl.run("submit", "--out", "x", workflow.toString());
        Comfyctl.Result badState = comfyctl.run("jobs", "list", "--state", "done");
        Comfyctl.Result noDaemon = comfyctl.run("jobs");

        assertThat(missingFile.exitCode()).isEqualTo(2);
        assertThat(missingFile.err()).contains("no workflow file", "Export (API)");
        assertThat(outWithoutWait.exitCode()).isEqualTo(2);
        assertThat(outWithoutWait.err()).contains("--out needs --wait");
        assertThat(badState.exitCode()).isEqualTo(2);
        assertThat(badState.err()).contains("--state must be one of");
        assertThat(noDaemon.exitCode()).isEqualTo(3);
        assertThat(noDaemon.err()).contains("not running", "comfyctl start");
    }
}
