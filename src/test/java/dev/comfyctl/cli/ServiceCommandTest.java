package dev.comfyctl.cli;

import dev.comfyctl.testing.ComfyctlJar;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** comfyctl service install | status | uninstall as a real process running from a jar, as a user runs it. */
@Timeout(180)
class ServiceCommandTest {
    @TempDir
    Path temp;

    private Path jar;
    private Path units;
    private Path systemctlLog;
    private Comfyctl comfyctl;

    @BeforeEach
    void setUp() throws IOException {
        jar = ComfyctlJar.build(temp.resolve("opt/comfyctl.jar"));
        units = temp.resolve("units");
        systemctlLog = temp.resolve("systemctl.log");
        Files.createDirectories(temp.resolve("ComfyUI"));
        comfyctl = new Comfyctl(temp, Map.of(
                "COMFYCTL_HOME", temp.resolve("state").toString(),
                "COMFYUI_DIR", temp.resolve("ComfyUI").toString(),
                "PATH", fakeSystemctlDir() + File.pathSeparator + System.getenv("PATH"),
                "FAKE_SYSTEMCTL_LOG", systemctlLog.toString())).fromJar(jar);
    }

    /** The service package's fake systemctl (test resource), which logs its arguments. */
    private Path fakeSystemctlDir() throws IOException {
        Path bin = Files.createDirectories(temp.resolve("bin"));
        try (InputStream in = getClass().getResourceAsStream("/service/systemctl")) {
            Files.copy(in, bin.resolve("systemctl"), StandardCopyOption.REPLACE_EXISTING);
        }
        assertThat(bin.resolve("systemctl").toFile().setExecutable(true)).isTrue();
        return bin;
    }

    @Test
    void installWritesAUnitThatRunsThisJarsDaemonAndSaysHowToEnableIt() throws Exception {
        Comfyctl.Result installed = comfyctl.run("service", "install", "--unit-dir", units.toString(), "--user", "daemon");

        assertThat(installed.exitCode()).as(installed.err()).isZero();
        Path unit = units.resolve("comfyctl.service");
        assertThat(installed.out()).contains("unit " + unit + " (runs as daemon)", "wrote " + unit,
                "enable it with: systemctl daemon-reload && systemctl enable --now comfyctl");
        assertThat(unit).content().contains("Type=exec", "User=daemon", "-jar " + jar + " serve",
                "COMFYCTL_HOME=" + temp.resolve("state"), "Restart=on-failure", "NoNewPrivileges=yes");
        assertThat(systemctlLog).doesNotExist();
        verifiedBySystemdWhereItIsInstalled(unit);
    }

    @Test
    void installWithEnableReloadsSystemdAndEnablesTheUnitThenStatusAndUninstallFollowIt() {
        Comfyctl.Result installed = comfyctl.run("service", "install", "--unit-dir", units.toString(), "--user", "daemon", "--enable");
        Comfyctl.Result status = comfyctl.run("service", "status", "--unit-dir", units.toString());
        Comfyctl.Result removed = comfyctl.run("service", "uninstall", "--unit-dir", units.toString());
        Comfyctl.Result gone = comfyctl.run("service", "status", "--unit-dir", units.toString());

        assertThat(installed.exitCode()).as(installed.err()).isZero();
        assertThat(installed.out()).contains("ran systemctl daemon-reload", "ran systemctl enable comfyctl.service");
        assertThat(status.out()).contains("(installed)", "active: active");
        assertThat(removed.exitCode()).isZero();
        assertThat(removed.out()).contains("ran systemctl disable --now comfyctl.service", "removed " + units.resolve("comfyctl.service"));
        assertThat(gone.exitCode()).isEqualTo(3);
        assertThat(gone.out()).contains("(not installed)");
        assertThat(systemctlLog).content().contains("daemon-reload", "enable comfyctl.service", "is-active comfyctl.service",
                "disable --now comfyctl.service");
    }

    @Test
    void aUnitDirectoryThatCannotBeWrittenIsAOneLineErrorNamingSudo() throws IOException {
        Path notADirectory = Files.writeString(temp.resolve("not-a-dir"), "x");

        Comfyctl.Result refused = comfyctl.run("service", "install", "--unit-dir", notADirectory.toString(), "--user", "daemon");

        assertThat(refused.exitCode()).isEqualTo(1);
        assertThat(refused.err()).startsWith("comfyctl: error: cannot write " + notADirectory.resolve("comfyctl.service"))
                .contains("needs root (sudo)").doesNotContain("\tat ");
    }

    @Test
    void aBadUnitNameIsInvalidInput() {
        Comfyctl.Result refused = comfyctl.run("service", "install", "--unit-dir", units.toString(), "--user", "daemon",
                "--name", "../evil");

        assertThat(refused.exitCode()).isEqualTo(2);
        assertThat(refused.err()).contains("'../evil' is not a usable unit name").doesNotContain("\tat ");
    }

    private static void verifiedBySystemdWhereItIsInstalled(Path unit) throws Exception {
        Optional<Path> analyze = Stream.of(System.getenv("PATH").split(File.pathSeparator))
                .map(dir -> Path.of(dir.isEmpty() ? "." : dir, "systemd-analyze")).filter(Files::isExecutable).findFirst();
        if (analyze.isEmpty()) {
            return;
        }
        Process process = new ProcessBuilder(analyze.get().toString(), "verify", unit.toString()).redirectErrorStream(true).start();
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(output).doesNotContain(unit.getFileName().toString());
        assertThat(process.exitValue()).as(output).isZero();
    }
}
