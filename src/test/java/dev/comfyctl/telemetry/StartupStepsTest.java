package dev.comfyctl.telemetry;

import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import io.opentelemetry.api.common.AttributeKey;
import io.opentelemetry.api.trace.StatusCode;
import io.opentelemetry.sdk.testing.exporter.InMemorySpanExporter;
import io.opentelemetry.sdk.trace.data.SpanData;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Numbered steps as the daemon and the installers use them: one line per step. */
class StartupStepsTest {
    private final InMemorySpanExporter exporter = InMemorySpanExporter.create();
    private final Tracing tracing = Tracing.exportingTo(exporter);
    private final StartupSteps steps = new StartupSteps(tracing.tracer(), new MachineAttributes("box", "mock", "comfyui:2"));

    /** What {@link Events#post} was given. */
    private final List<Map<String, Object>> posted = new ArrayList<>();
    private final Events events = new Events() {
        @Override
        public void record(EventType type, String instance, String message, Map<String, Object> fields) {
            post(type, instance, message, fields);
        }

        @Override
        public void post(EventType type, String instance, String message, Map<String, Object> fields) {
            assertThat(type).isEqualTo(EventType.STARTUP_STEP);
            posted.add(fields);
        }
    };

    @AfterEach
    void close() {
        tracing.close();
    }

    @Test
    void aStepThatThrowsIsRecordedAsFailedAndTheFailureGoesOnAsIs() {
        steps.run(Phase.COMPONENTS, "custom_nodes", "install", "Custom nodes", () -> { });
        UncheckedIOException diskFull = new UncheckedIOException(new IOException("No space left on device"));

        assertThatThrownBy(() -> steps.run(Phase.COMPONENTS, "models", "install", "Models", () -> {
            throw diskFull;
        })).isSameAs(diskFull);

        List<StartupSteps.Step> list = steps.list();
        assertThat(list).extracting(StartupSteps.Step::state).containsExactly(StartupSteps.State.DONE, StartupSteps.State.FAILED);
        assertThat(list.get(1).number()).isEqualTo(2);
        assertThat(list.get(1).errorType()).hasValue("unchecked_io");
        assertThat(list.get(1).error()).hasValueSatisfying(error -> assertThat(error).contains("No space left on device"));
        SpanData models = exporter.getFinishedSpanItems().get(1);
        assertThat(models.getName()).isEqualTo("machine.components.models.install");
        assertThat(models.getAttributes().get(AttributeKey.stringKey("phase"))).isEqualTo("component_installation");
        assertThat(models.getAttributes().get(AttributeKey.stringKey("workers"))).isEqualTo("comfyui:2");
        assertThat(models.getStatus().getStatusCode()).isEqualTo(StatusCode.ERROR);
        assertThat(models.getEvents()).extracting(event -> event.getName()).containsExactly("machine.step.failure");
    }

    @Test
    void aWatcherLearnsTheStepsSoFarThenEachStepAsItBeginsAndAsItEnds() {
        steps.run(Phase.ENVIRONMENT, "config", "load", "Configuration", () -> { });
        List<String> seen = new ArrayList<>();

        steps.watch(step -> seen.add(step.number() + " " + step.name() + " " + step.state()));
        steps.skip(Phase.COMPONENTS, "custom_nodes", "install", "Custom nodes", "none in the manifest");
        StartupSteps.Running models = steps.begin(Phase.COMPONENTS, "models", "install", "Models");
        models.fail("install_failed", "1 model failed");

        assertThat(seen).containsExactly("1 Configuration DONE", "2 Custom nodes RUNNING", "2 Custom nodes SKIPPED",
                "3 Models RUNNING", "3 Models FAILED");
    }

    @Test
    void stepsThatEndedBeforeTheEventLogOpenedArePostedWhenItDoesAndLaterOnesAsTheyEnd() {
        steps.run(Phase.ENVIRONMENT, "config", "load", "Configuration", () -> "3 settings");
        StartupSteps.Running gpu = steps.begin(Phase.HARDWARE, "gpu", "detect", "GPU detection");

        steps.publishTo(events);
        assertThat(posted).hasSize(1);
        gpu.done("2 GPUs");
        gpu.fail("late", "a step ends once");

        assertThat(posted).extracting(fields -> fields.get("name")).containsExactly("Configuration", "GPU detection");
        assertThat(posted.get(1)).containsEntry("number", 2).containsEntry("state", "DONE").containsEntry("phase", "hardware_detection")
                .containsKey("durationMs").doesNotContainKey("error");
        assertThat(steps.list().get(1).detail()).hasValue("2 GPUs");
    }

    @Test
    void finishEndsTheStartupSpanWithTheFirstFailedStepOnce() {
        steps.skip(Phase.COMFYUI, "server", "start", "ComfyUI start: comfyui", "COMFYUI_AUTOSTART=false");
        steps.begin(Phase.READY, "machine", "complete", "Machine ready").fail("not_ready", "comfyui is FAILED");

        steps.finish();
        steps.finish();

        List<SpanData> roots = exporter.getFinishedSpanItems().stream().filter(span -> span.getName().equals("machine.startup")).toList();
        assertThat(roots).hasSize(1);
        assertThat(roots.get(0).getStatus().getDescription()).isEqualTo("step 2 (Machine ready) failed: comfyui is FAILED");
        assertThat(steps.list().get(0).state()).isEqualTo(StartupSteps.State.SKIPPED);
    }
}
