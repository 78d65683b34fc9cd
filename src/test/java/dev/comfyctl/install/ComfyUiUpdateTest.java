package dev.comfyctl.install;

import dev.comfyctl.comfy.ComfyClient;
import dev.comfyctl.config.Config;
import dev.comfyctl.events.EventType;
import dev.comfyctl.events.Events;
import dev.comfyctl.gpu.GpuDetector;
import dev.comfyctl.supervisor.ComfyInstance;
import dev.comfyctl.supervisor.InstanceSpec;
import dev.comfyctl.supervisor.InstanceState;
import dev.comfyctl.testing.ComfyUiVersions;
import dev.comfyctl.testing.TestConfigs;
import dev.comfyctl.testing.Wheels;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.CopyOnWriteArrayList;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** comfyctl update against a local repository of ComfyUI versions and a real supervised instance, offline. */
@Timeout(300)
class ComfyUiUpdateTest {
    @TempDir
    Path temp;

    private ComfyUiVersions versions;
    private Config config;
    private ComfyClient client;
    private ComfyInstance instance;
    private final List<ComfyUiUpdate.Progress> progress = new CopyOnWriteArrayList<>();
    private final List<EventType> events = new CopyOnWriteArrayList<>();
    private Wheels wheels;

    @BeforeEach
    void installV1() {
        versions = ComfyUiVersions.create(temp);
        wheels = new Wheels(temp.resolve("wheels")).add("comfyfake", "1.0").add("comfyfake", "2.0");
        config = TestConfigs.forComfyUi(versions.dir(), temp.resolve("state"), "RESTART_DRAIN_MAX_SECONDS", "10");
        client = ComfyClient.create(URI.create("http://127.0.0.1:" + config.comfyPort()), Duration.ofSeconds(5));
        instance = new ComfyInstance(config, new InstanceSpec("comfyui", config.comfyPort(), OptionalInt.empty(),
                config.logsDir(), config.home().resolve("comfyui.pid"), Map.of(), client),
                GpuDetector.mock(1, 24564, "NVIDIA GeForce RTX 4090"));
    }

    @AfterEach
    void stopInstance() {
        instance.close();
    }

    private ComfyUiUpdate update(List<ComfyInstance> supervised) {
        UpdateSettings settings = new UpdateSettings(versions.dir(), config.home(), Optional.empty(), wheels.pipArgs(),
                config.restartDrainMax(), Wheels.isolatedEnvironment());
        Events recorder = new Events() {
            @Override
            public void record(EventType type, String instance, String message, Map<String, Object> fields) {
                events.add(type);
            }

            @Override
            public void post(EventType type, String instance, String message, Map<String, Object> fields) {
                events.add(type);
            }
        };
        return ComfyUiUpdate.create(settings, supervised.stream().map(i -> new ComfyUiUpdate.Supervised(i, client)).toList(),
                recorder, progress::add);
    }

    private ComfyUiUpdate.Result updateRunning(Optional<String> version, boolean rollback) {
        return update(List.of(instance)).run(new ComfyUiUpdate.Request(version, rollback));
    }

    private long startV1() {
        return instance.start(event -> { }).join().pid();
    }

    private Optional<ComfyUiUpdate.Outcome> outcomeOf(String title) {
        return progress.stream().filter(p -> p.title().equals(title) && p.outcome() != ComfyUiUpdate.Outcome.RUNNING)
                .map(ComfyUiUpdate.Progress::outcome).findFirst();
    }

    @Test
    void aVersionThatFailsToBecomeReadyIsRolledBackAndTheOldOneRunsAgain() {
        startV1();

        assertThatThrownBy(() -> updateRunning(Optional.of("v2"), false))
                .isInstanceOfSatisfying(UpdateException.class, e -> {
                    assertThat(e.getMessage()).contains("update to v2 failed", "v2 did not become ready", "rolled back to v1");
                    assertThat(e.outputTail()).anyMatch(line -> line.contains(ComfyUiVersions.V2_FAILURE));
                });

        assertThat(versions.head()).isEqualTo(versions.commit("v1"));
        assertThat(instance.state()).isEqualTo(InstanceState.READY);
        assertThat(client.health().ok()).isTrue();
        assertThat(progress).extracting(ComfyUiUpdate.Progress::title).contains("drain", "stop", "checkout", "restart", "rollback");
        assertThat(outcomeOf("requirements")).contains(ComfyUiUpdate.Outcome.SKIPPED);
        assertThat(outcomeOf("restart")).contains(ComfyUiUpdate.Outcome.FAILED);
        assertThat(events).contains(EventType.UPDATE, EventType.UPDATE_FAILED);
    }

    @Test
    void changedRequirementsAreInstalledWithComfyUisPythonBeforeTheRestart() {
        Path python = versions.realVenv();
        long before = startV1();

        ComfyUiUpdate.Result result = updateRunning(Optional.of("v3"), false);

        assertThat(result.changed()).isTrue();
        assertThat(result.restarted()).isTrue();
        assertThat(outcomeOf("requirements")).contains(ComfyUiUpdate.Outcome.DONE);
        assertThat(ComfyUiVersions.run(List.of(python.toString(), "-c", "import comfyfake; print(comfyfake.__version__)")))
                .contains("2.0");
        assertThat(versions.head()).isEqualTo(versions.commit("v3"));
        assertThat(instance.state()).isEqualTo(InstanceState.READY);
        assertThat(instance.snapshot().pid().orElseThrow()).isNotEqualTo(before);
    }

    @Test
    void withoutAVersionItGoesToTheNewestOfTheDefaultBranchAndUnchangedRequirementsAreNotInstalled() {
        long before = startV1();

        ComfyUiUpdate.Result result = updateRunning(Optional.empty(), false);

        assertThat(result.to()).isEqualTo("v4");
        assertThat(result.summary()).contains("from v1 to v4", "comfyui ready");
        assertThat(versions.head()).isEqualTo(versions.commit("v4"));
        // The linked python has no pip: an install would have failed the update.
        assertThat(outcomeOf("requirements")).contains(ComfyUiUpdate.Outcome.SKIPPED);
        assertThat(outcomeOf("drain")).contains(ComfyUiUpdate.Outcome.DONE);
        assertThat(instance.state()).isEqualTo(InstanceState.READY);
        assertThat(instance.snapshot().pid().orElseThrow()).isNotEqualTo(before);
    }

    @Test
    void rollbackGoesBackToTheVersionBeforeTheLastUpdate() {
        startV1();
        updateRunning(Optional.of("v4"), false);
        progress.clear();

        ComfyUiUpdate.Result result = updateRunning(Optional.empty(), true);

        assertThat(result.from()).isEqualTo("v4");
        assertThat(result.to()).isEqualTo("v1");
        assertThat(versions.head()).isEqualTo(versions.commit("v1"));
        assertThat(instance.state()).isEqualTo(InstanceState.READY);
        assertThat(progress).filteredOn(p -> p.number() == 1).last().extracting(ComfyUiUpdate.Progress::message).asString()
                .contains("the version before the last update");
    }

    @Test
    void rollbackWithoutAnEarlierUpdateSaysHowToNameAVersion() {
        assertThatThrownBy(() -> update(List.of()).run(new ComfyUiUpdate.Request(Optional.empty(), true)))
                .hasMessageContaining("no update has been recorded", "--version");
        assertThat(versions.head()).isEqualTo(versions.commit("v1"));
    }

    @Test
    void anUnknownVersionIsAClearErrorAndNeitherTheCheckoutNorComfyUiAreTouched() {
        long pid = startV1();

        assertThatThrownBy(() -> updateRunning(Optional.of("v9"), false))
                .hasMessageContaining("version v9 is neither a tag, a branch nor a commit", "Nothing was changed");

        assertThat(versions.head()).isEqualTo(versions.commit("v1"));
        assertThat(instance.snapshot().pid()).hasValue(pid);
        assertThat(instance.state()).isEqualTo(InstanceState.READY);
    }

    @Test
    void anUnreachableRepositoryIsAClearErrorAndNothingChanges() {
        ComfyUiVersions.git(versions.dir(), "remote", "set-url", "origin", temp.resolve("gone").toString());
        long pid = startV1();

        assertThatThrownBy(() -> updateRunning(Optional.empty(), false))
                .isInstanceOfSatisfying(UpdateException.class, e -> {
                    assertThat(e.getMessage()).contains("git fetch", "is ComfyUI's repository reachable", "remote -v",
                            "Nothing was changed");
                    assertThat(e.outputTail()).anyMatch(line -> line.contains("gone"));
                });

        assertThat(outcomeOf("version")).contains(ComfyUiUpdate.Outcome.FAILED);
        assertThat(versions.head()).isEqualTo(versions.commit("v1"));
        assertThat(instance.snapshot().pid()).hasValue(pid);
    }

    @Test
    void aCheckoutWithLocalChangesIsRefusedAndTheChangesAreKept() throws Exception {
        Files.writeString(versions.dir().resolve("requirements.txt"), "comfyfake==1.0\nmy-own-package\n");

        assertThatThrownBy(() -> update(List.of()).run(new ComfyUiUpdate.Request(Optional.of("v4"), false)))
                .hasMessageContaining("has local changes to 1 file(s) (requirements.txt)", "stash", "comfyctl update' again");

        assertThat(versions.head()).isEqualTo(versions.commit("v1"));
        assertThat(versions.dir().resolve("requirements.txt")).content().contains("my-own-package");
    }

    @Test
    void withoutInstancesOnlyTheCheckoutMovesAndNothingIsStarted() {
        ComfyUiUpdate.Result result = update(List.of()).run(new ComfyUiUpdate.Request(Optional.of("v2"), false));

        assertThat(result.changed()).isTrue();
        assertThat(result.restarted()).isFalse();
        assertThat(result.summary()).contains("no instance was running");
        assertThat(versions.head()).isEqualTo(versions.commit("v2"));
        assertThat(instance.state()).isEqualTo(InstanceState.STOPPED);
    }

    @Test
    void updatingToTheVersionItIsAtChangesNothing() {
        long pid = startV1();

        ComfyUiUpdate.Result result = updateRunning(Optional.of("v1"), false);

        assertThat(result.changed()).isFalse();
        assertThat(result.summary()).contains("already at v1");
        assertThat(instance.snapshot().pid()).hasValue(pid);
    }
}
