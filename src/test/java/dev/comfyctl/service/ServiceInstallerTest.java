package dev.comfyctl.service;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ServiceInstallerTest {

    @TempDir
    Path tmp;
    Path unitDir;
    Path log;
    SystemdUnit unit = SystemdUnitTest.typical().build();

    @BeforeEach
    void setUp() {
        unitDir = tmp.resolve("etc/systemd/system");
        log = tmp.resolve("systemctl.log");
    }

    /** An installer whose PATH has no systemctl. */
    private ServiceInstaller withoutSystemctl() throws IOException {
        return new ServiceInstaller(Map.of("PATH", Files.createDirectories(tmp.resolve("empty-bin")).toString()), Duration.ofSeconds(10));
    }

    /** An installer whose PATH starts with the fake systemctl (test resource service/systemctl), configured by {@code vars}. */
    private ServiceInstaller withFakeSystemctl(Map<String, String> vars) throws IOException {
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        Path fake = bin.resolve("systemctl");
        try (InputStream in = getClass().getResourceAsStream("/service/systemctl")) {
            Files.copy(in, fake, StandardCopyOption.REPLACE_EXISTING);
        }
        // Maven does not keep the executable bit of test resources.
        assertThat(fake.toFile().setExecutable(true)).isTrue();
        Map<String, String> env = new HashMap<>(vars);
        env.put("PATH", bin + ":" + System.getenv("PATH"));
        env.put("FAKE_SYSTEMCTL_LOG", log.toString());
        return new ServiceInstaller(env, Duration.ofSeconds(10));
    }

    private List<String> systemctlCalls() throws IOException {
        return Files.exists(log) ? Files.readAllLines(log) : List.of();
    }

    @Test
    void installWritesTheUnitAtomicallyAndSaysWhatToRunWhenSystemctlIsMissing() throws IOException {
        ServiceInstaller.Result result = withoutSystemctl().install(unitDir, "comfyctl", unit, true);

        Path unitFile = unitDir.resolve("comfyctl.service");
        assertThat(result.unitFile()).isEqualTo(unitFile);
        assertThat(unitFile).hasContent(unit.render());
        assertThat(PosixFilePermissions.toString(Files.getPosixFilePermissions(unitFile))).isEqualTo("rw-r--r--");
        try (Stream<Path> files = Files.list(unitDir)) {
            assertThat(files).containsExactly(unitFile);
        }
        assertThat(result.actions()).containsExactly(
                "wrote " + unitFile,
                "systemctl not found on PATH; on the host run: systemctl daemon-reload && systemctl enable comfyctl.service");
    }

    @Test
    void installWithoutEnableNeverRunsSystemctl() throws IOException {
        ServiceInstaller.Result result = withFakeSystemctl(Map.of()).install(unitDir, "comfyctl.service", unit, false);

        assertThat(systemctlCalls()).isEmpty();
        assertThat(result.actions()).last().asString().startsWith("did not run systemctl (not asked to)");
    }

    @Test
    void installReloadsSystemdAndEnablesTheUnit() throws IOException {
        ServiceInstaller.Result result = withFakeSystemctl(Map.of()).install(unitDir, "comfyctl", unit, true);

        assertThat(systemctlCalls()).containsExactly("daemon-reload", "enable comfyctl.service");
        assertThat(result.actions()).containsExactly(
                "wrote " + unitDir.resolve("comfyctl.service"), "ran systemctl daemon-reload", "ran systemctl enable comfyctl.service");
    }

    @Test
    void installingTheSameUnitAgainLeavesTheFileAloneAndADifferentOneReplacesIt() throws IOException {
        ServiceInstaller installer = withoutSystemctl();
        installer.install(unitDir, "comfyctl", unit, false);

        assertThat(installer.install(unitDir, "comfyctl", unit, false).actions())
                .first().isEqualTo(unitDir.resolve("comfyctl.service") + " is already up to date");

        SystemdUnit changed = SystemdUnitTest.typical().stopGrace(Duration.ofSeconds(60)).build();
        assertThat(installer.install(unitDir, "comfyctl", changed, false).actions()).first().asString().startsWith("wrote ");
        assertThat(unitDir.resolve("comfyctl.service")).content().contains("TimeoutStopSec=75");
    }

    @Test
    void aFailingEnableIsAnErrorThatSaysWhatWasAlreadyDone() throws IOException {
        ServiceInstaller installer = withFakeSystemctl(Map.of("FAKE_SYSTEMCTL_FAIL", "enable"));

        assertThatThrownBy(() -> installer.install(unitDir, "comfyctl", unit, true))
                .isInstanceOf(ServiceException.class)
                .hasMessage("systemctl enable comfyctl.service failed (exit 1): 'Failed to enable unit: Access denied'. Done before: wrote "
                        + unitDir.resolve("comfyctl.service") + "; ran systemctl daemon-reload. Fix the cause and run systemctl enable "
                        + "comfyctl.service again.");
    }

    @Test
    void anUnwritableUnitDirectoryIsAnErrorWithAHint() throws IOException {
        Path notADirectory = Files.writeString(tmp.resolve("file"), "x");

        assertThatThrownBy(() -> withoutSystemctl().install(notADirectory, "comfyctl", unit, false))
                .isInstanceOf(ServiceException.class)
                .hasMessageStartingWith("cannot write " + notADirectory.resolve("comfyctl.service"))
                .hasMessageEndingWith("Installing a system service usually needs root (sudo).");
    }

    @Test
    void uninstallRemovesTheUnitAndIsIdempotent() throws IOException {
        ServiceInstaller installer = withoutSystemctl();
        Path unitFile = installer.install(unitDir, "comfyctl", unit, false).unitFile();

        assertThat(installer.uninstall(unitDir, "comfyctl", false).actions()).containsExactly(
                "did not run systemctl (not asked to); comfyctl.service may still be running until stopped",
                "removed " + unitFile);
        assertThat(unitFile).doesNotExist();
        assertThat(installer.uninstall(unitDir, "comfyctl", false).actions())
                .containsExactly("nothing to remove: " + unitFile + " does not exist");
    }

    @Test
    void uninstallStopsAndDisablesTheServiceThenReloads() throws IOException {
        ServiceInstaller installer = withFakeSystemctl(Map.of());
        Path unitFile = installer.install(unitDir, "comfyctl", unit, false).unitFile();

        ServiceInstaller.Result result = installer.uninstall(unitDir, "comfyctl", true);

        assertThat(systemctlCalls()).containsExactly("disable --now comfyctl.service", "daemon-reload");
        assertThat(result.actions()).containsExactly(
                "ran systemctl disable --now comfyctl.service", "removed " + unitFile, "ran systemctl daemon-reload");
    }

    @Test
    void uninstallStillRemovesTheFileWhenDisablingFails() throws IOException {
        ServiceInstaller installer = withFakeSystemctl(Map.of("FAKE_SYSTEMCTL_FAIL", "disable"));
        Path unitFile = installer.install(unitDir, "comfyctl", unit, false).unitFile();

        ServiceInstaller.Result result = installer.uninstall(unitDir, "comfyctl", true);

        assertThat(unitFile).doesNotExist();
        assertThat(result.actions()).first()
                .isEqualTo("systemctl disable --now comfyctl.service failed (exit 1): 'Failed to disable unit: Access denied'; continuing");
    }

    @Test
    void statusReportsTheFileAndSystemdsActiveState() throws IOException {
        ServiceInstaller installer = withFakeSystemctl(Map.of("FAKE_SYSTEMCTL_STATE", "inactive"));
        Path unitFile = installer.install(unitDir, "comfyctl", unit, false).unitFile();

        assertThat(installer.status(unitDir, "comfyctl"))
                .isEqualTo(new ServiceInstaller.Status(true, unitFile, Optional.of("inactive"), Optional.empty()));
        assertThat(systemctlCalls()).containsExactly("is-active comfyctl.service");
    }

    @Test
    void statusWithoutSystemctlOrWithoutSystemdSaysWhyThereIsNoState() throws IOException {
        ServiceInstaller.Status missing = withoutSystemctl().status(unitDir, "comfyctl");
        assertThat(missing).isEqualTo(new ServiceInstaller.Status(false, unitDir.resolve("comfyctl.service"), Optional.empty(),
                Optional.of("systemctl not found on PATH")));

        ServiceInstaller.Status noSystemd = withFakeSystemctl(Map.of("FAKE_SYSTEMCTL_STATE",
                "System has not been booted with systemd as init system (PID 1). Can't operate.")).status(unitDir, "comfyctl");
        assertThat(noSystemd.activeState()).isEmpty();
        assertThat(noSystemd.note()).contains("systemctl is-active comfyctl.service gave no state (exit 3): "
                + "'System has not been booted with systemd as init system (PID 1). Can't operate.'");
    }

    @Test
    void rejectsUnitNamesThatAreNotPlainNames() throws IOException {
        ServiceInstaller installer = withoutSystemctl();
        for (String bad : new String[] {"../evil", "", "two words", "-dash", "comfyctl@1", ".service"}) {
            assertThatThrownBy(() -> installer.install(unitDir, bad, unit, false))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("'" + bad + "' is not a usable unit name");
        }
        assertThat(tmp.resolve("etc/systemd/evil.service")).doesNotExist();
    }
}
