package dev.comfyctl.telemetry;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.config.Config;
import dev.comfyctl.daemon.Daemon;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.TestConfigs;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.EventData;
import io.opentelemetry.sdk.trace.data.SpanData;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.awaitility.Awaitility.await;

/** The daemon's startup steps and every instance start, as spans in the SDK's in-memory exporter. */
@Timeout(120)
class StartupTracingTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final List<String> STEP_SPANS = List.of("machine.environment.config.load",
            "machine.environment.directories.setup", "machine.hardware.gpu.detect", "machine.instances.plan.create",
            "machine.services.health_server.start", "machine.services.manager.start", "machine.comfyui.server.start",
            "machine.ready.machine.complete");
    private static final List<String> START_STEP_SPANS = List.of("machine.comfyui.preflight.check",
            "machine.comfyui.strays.stop", "machine.comfyui.gpu.detect", "machine.comfyui.flags.choose",
            "machine.comfyui.models.count", "machine.comfyui.session_log.open", "machine.comfyui.process.launch",
            "machine.comfyui.urls.report");

    @TempDir
    Path temp;

    private final InMemorySpanExporter exporter = InMemorySpanExporter.create();
    private FakeComfyUi fake;
    private Config config;
    private Daemon daemon;

    @BeforeEach
    void installFake() {
        fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
    }

    @AfterEach
    void stopDaemon() {
        if (daemon != null) {
            daemon.close();
        }
    }

    private void startDaemon(String... settings) {
        List<String> all = new ArrayList<>(List.of("MACHINE_ID", "render-box-7", "COMFYUI_RESTART_ON_CRASH", "false"));
        all.addAll(List.of(settings));
        config = TestConfigs.forFake(fake, temp.resolve("state"), all.toArray(String[]::new));
        daemon = Daemon.start(config, false, Tracing.exportingTo(exporter));
    }

    private List<SpanData> spans() {
        return exporter.getFinishedSpanItems();
    }

    private SpanData span(String name) {
        return spans().stream().filter(span -> span.getName().equals(name)).findFirst()
                .orElseThrow(() -> new AssertionError("no span " + name + " in " + spans().stream().map(SpanData::getName).toList()));
    }

    private static EventData failureEvent(SpanData span) {
        return span.getEvents().stream().filter(event -> event.getName().equals("machine.step.failure")).findFirst()
                .orElseThrow(() -> new AssertionError(span.getName() + " has no machine.step.failure event: " + span.getEvents()));
    }

    private static String text(SpanData span, String key) {
        return span.getAttributes().get(AttributeKey.stringKey(key));
    }

    private static Long number(SpanData span, String key) {
        return span.getAttributes().get(AttributeKey.longKey(key));
    }

    @Test
    void everyStartupStepIsANumberedSpanUnderOneStartupSpanWithTheMachineAttributes() {
        startDaemon();

        daemon.finishStartup();

        SpanData root = span("machine.startup");
        List<SpanData> steps = spans().stream().filter(span -> span.getParentSpanId().equals(root.getSpanId())).toList();
        assertThat(steps).extracting(SpanData::getName).containsExactlyElementsOf(STEP_SPANS);
        for (int i = 0; i < steps.size(); i++) {
            SpanData step = steps.get(i);
            assertThat(number(step, "step_number")).as(step.getName()).isEqualTo(i + 1);
            assertThat(text(step, "machine_id")).isEqualTo("render-box-7");
            assertThat(text(step, "gpu_mode")).isEqualTo("mock");
            assertThat(text(step, "workers")).isEqualTo("comfyui:1");
            assertThat(text(step, "step_name")).isNotBlank();
            assertThat(step.getStatus().getStatusCode()).as(step.getName()).isNotEqualTo(StatusCode.ERROR);
            assertThat(step.getTraceId()).isEqualTo(root.getTraceId());
        }
        assertThat(text(span("machine.hardware.gpu.detect"), "phase")).isEqualTo("hardware_detection");
        assertThat(text(span("machine.comfyui.server.start"), "phase")).isEqualTo("comfyui_start");
        assertThat(text(span("machine.comfyui.server.start"), "step_name")).isEqualTo("ComfyUI start: comfyui");
        assertThat(text(span("machine.ready.machine.complete"), "phase")).isEqualTo("ready");
        assertThat(root.getStatus().getStatusCode()).isNotEqualTo(StatusCode.ERROR);
    }

    @Test
    void theEightStepsOfAnInstanceStartAreChildSpansOfItsServerStartSpan() {
        startDaemon();

        daemon.finishStartup();

        SpanData start = span("machine.comfyui.server.start");
        List<SpanData> children = spans().stream().filter(span -> span.getParentSpanId().equals(start.getSpanId())).toList();
        assertThat(children).extracting(SpanData::getName).containsExactlyElementsOf(START_STEP_SPANS);
        assertThat(children).allSatisfy(child -> {
            assertThat(text(child, "instance")).isEqualTo("comfyui");
            assertThat(text(child, "machine_id")).isEqualTo("render-box-7");
            assertThat(text(child, "phase")).isEqualTo("comfyui_start");
        });
        assertThat(text(span("machine.comfyui.gpu.detect"), "message")).contains("NVIDIA GeForce RTX 4090");
        assertThat(number(span("machine.comfyui.process.launch"), "step_number")).isEqualTo(7);
    }

    @Test
    void anInstanceThatFailsToStartGivesErrorSpansWithTheFailureEvent() {
        fake.behave(Map.of("exit_at_startup", 3));
        startDaemon();

        daemon.finishStartup();

        SpanData launch = span("machine.comfyui.process.launch");
        assertThat(launch.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        EventData launchFailure = failureEvent(launch);
        assertThat(launchFailure.getAttributes().get(AttributeKey.stringKey("error_type"))).isEqualTo("launch_failed");
        assertThat(launchFailure.getAttributes().get(AttributeKey.stringKey("error_message"))).contains("exited with code 3");
        assertThat(launchFailure.getAttributes().get(AttributeKey.longKey("step_number"))).isEqualTo(7);
        assertThat(launchFailure.getAttributes().get(AttributeKey.longKey("retry_attempt"))).isZero();
        assertThat(launchFailure.getAttributes().get(AttributeKey.longKey("duration_ms"))).isNotNegative();

        SpanData start = span("machine.comfyui.server.start");
        assertThat(start.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        EventData startFailure = failureEvent(start);
        assertThat(startFailure.getAttributes().get(AttributeKey.stringKey("error_type"))).isEqualTo("start_failed");
        assertThat(startFailure.getAttributes().get(AttributeKey.stringKey("step_name"))).isEqualTo("ComfyUI start: comfyui");
        assertThat(startFailure.getAttributes().get(AttributeKey.longKey("step_number"))).isEqualTo(7);
        assertThat(startFailure.getAttributes().get(AttributeKey.stringKey("error_message"))).contains("exited with code 3");
        assertThat(startFailure.getAttributes().get(AttributeKey.longKey("duration_ms")))
                .isEqualTo(Duration.ofNanos(start.getEndEpochNanos() - start.getStartEpochNanos()).toMillis());

        SpanData ready = span("machine.ready.machine.complete");
        assertThat(ready.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        assertThat(failureEvent(ready).getAttributes().get(AttributeKey.stringKey("error_message"))).contains("comfyui is FAILED");
        assertThat(span("machine.startup").getStatus().getDescription()).contains("step 7 (ComfyUI start: comfyui) failed");
    }

    @Test
    void aStartLaterInTheDaemonsLifeIsTracedOnItsOwnAndAFailedOneCarriesTheFailureEvent() {
        startDaemon();
        daemon.finishStartup();
        fake.behave(Map.of("exit_at_startup", 4));

        assertThatThrownBy(() -> daemon.instance().restart(event -> { }).join()).isInstanceOf(CompletionException.class);

        List<SpanData> starts = spans().stream().filter(span -> span.getName().equals("machine.comfyui.server.start")).toList();
        assertThat(starts).hasSize(2);
        SpanData restart = starts.get(1);
        assertThat(restart.getParentSpanContext().isValid()).isFalse();
        assertThat(text(restart, "reason")).isEqualTo("restart requested");
        assertThat(text(restart, "machine_id")).isEqualTo("render-box-7");
        assertThat(restart.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        assertThat(failureEvent(restart).getAttributes().get(AttributeKey.stringKey("error_message")))
                .contains("start failed at step 7", "exited with code 4");
        assertThat(spans().stream().filter(span -> span.getParentSpanId().equals(restart.getSpanId())))
                .extracting(SpanData::getName).containsExactlyElementsOf(START_STEP_SPANS.subList(0, 7));
    }

    @Test
    void theStepsAreInTheEventLogWithStateDurationAndError() throws Exception {
        fake.behave(Map.of("exit_at_startup", 3));
        startDaemon();

        daemon.finishStartup();

        URI events = URI.create("http://127.0.0.1:" + config.managerPort() + "/manager/events?limit=100");
        await().atMost(Duration.ofSeconds(20)).untilAsserted(() -> {
            JsonNode steps = stepEvents(events);
            assertThat(steps).extracting(step -> step.path("number").asInt()).containsExactly(1, 2, 3, 4, 5, 6, 7, 8);
        });
        JsonNode steps = stepEvents(events);
        JsonNode gpu = steps.get(2);
        assertThat(gpu.path("name").asText()).isEqualTo("GPU detection");
        assertThat(gpu.path("phase").asText()).isEqualTo("hardware_detection");
        assertThat(gpu.path("state").asText()).isEqualTo("DONE");
        assertThat(gpu.has("durationMs")).isTrue();
        JsonNode start = steps.get(6);
        assertThat(start.path("state").asText()).isEqualTo("FAILED");
        assertThat(start.path("errorType").asText()).isEqualTo("start_failed");
        assertThat(start.path("error").asText()).contains("exited with code 3");
        assertThat(start.path("message").asText()).startsWith("step 7 (ComfyUI start: comfyui) failed after");
        assertThat(daemon.instance().state()).isEqualTo(InstanceState.FAILED);
    }

    private static JsonNode stepEvents(URI events) throws Exception {
        JsonNode all = JSON.readTree(Http.get(events).body()).path("events");
        var steps = JSON.createArrayNode();
        all.forEach(event -> {
            if (event.path("type").asText().equals("startup_step")) {
                steps.add(event);
            }
        });
        return steps;
    }
}
