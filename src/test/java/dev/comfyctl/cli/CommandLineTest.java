package dev.comfyctl.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/** The command-line surface, parsed in-process. */
class CommandLineTest {
    @TempDir
    Path home;

    private record Run(int code, String out, String err) {
    }

    private Run run(Map<String, String> env, String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        int code = Main.run(args, env, new PrintWriter(out, true), new PrintWriter(err, true));
        return new Run(code, out.toString(), err.toString());
    }

    private Run run(String... args) {
        return run(Map.of("COMFYCTL_HOME", home.toString()), args);
    }

    @ParameterizedTest
    @ValueSource(strings = {"serve", "start", "stop", "restart", "status", "logs", "config", "completion", "service"})
    void everyCommandHasHelpAndVersion(String command) {
        Run help = run(command, "--help");
        Run version = run(command, "--version");

        assertThat(help.code()).isZero();
        assertThat(help.out()).contains("Usage: comfyctl " + command);
        assertThat(version.code()).isZero();
        assertThat(version.out()).startsWith("comfyctl ");
    }

    @ParameterizedTest
    @ValueSource(strings = {"setup", "update"})
    void setupAndUpdateTakeVersionAsTheComfyUiVersion(String command) {
        Run help = run(command, "--help");
        Run missing = run(command, "--version");

        assertThat(help.code()).isZero();
        assertThat(help.out()).contains("Usage: comfyctl " + command, "--version=TAG|COMMIT", "comfyctl's own is");
        assertThat(missing.code()).isEqualTo(2);
        assertThat(missing.err()).contains("--version");
    }

    @Test
    void configPrintsEveryValueWithItsSource() {
        Run config = run(Map.of("COMFYCTL_HOME", home.toString(), "COMFYUI_PORT", "9000"), "config", "--set", "GPU_MODE=mock");

        assertThat(config.code()).isZero();
        assertThat(config.out()).containsPattern("COMFYUI_PORT\\s+9000\\s+environment")
                .containsPattern("GPU_MODE\\s+mock\\s+flag")
                .containsPattern("MANAGER_PORT\\s+8188\\s+default");
    }

    @Test
    void configNeverPrintsASecret() {
        Run config = run(Map.of("COMFYCTL_HOME", home.toString(), "MANAGER_TOKEN", "very-secret-token"), "config");

        assertThat(config.out()).doesNotContain("very-secret-token").containsPattern("MANAGER_TOKEN\\s+\\(set, hidden\\)");
    }

    @Test
    void anUnknownOptionIsExitTwoWithUsageHint() {
        Run result = run("start", "--frobnicate");

        assertThat(result.code()).isEqualTo(2);
        assertThat(result.err()).contains("Unknown option: '--frobnicate'", "comfyctl start --help");
    }

    @Test
    void anUnknownSettingGivenWithSetIsExitTwo() {
        Run result = run("config", "--set", "COMFY_PROT=1");

        assertThat(result.code()).isEqualTo(2);
        assertThat(result.err()).contains("unknown setting 'COMFY_PROT'");
    }

    @Test
    void completionPrintsABashCompletionScriptNamingTheCommands() {
        Run result = run("completion");

        assertThat(result.code()).isZero();
        assertThat(result.out()).contains("complete -F", "comfyctl", "restart", "status");
    }

    @ParameterizedTest
    @ValueSource(strings = {"--help", "help"})
    void theHelpListsEverySubcommandInOrder(String help) {
        Run result = run(help);

        assertThat(result.code()).isZero();
        assertThat(result.out()).containsSubsequence("setup", "update", "install", "serve", "start", "stop", "restart",
                "status", "logs", "events", "schedule", "config", "service", "completion", "help");
    }

    @Test
    void helpDescribesTheCommandItIsGiven() {
        Run result = run("help", "status");

        assertThat(result.code()).isZero();
        assertThat(result.out()).contains("Usage: comfyctl status", "--json");
    }

    @Test
    void aMistypedCommandIsExitTwoNamingIt() {
        Run result = run("statsu");

        assertThat(result.code()).isEqualTo(2);
        assertThat(result.err()).contains("'statsu'", "comfyctl --help");
    }

    @Test
    void logsWithoutAnySessionLogSaysHowToGetOne() {
        Run result = run("logs");

        assertThat(result.code()).isEqualTo(3);
        assertThat(result.err()).contains("no session log", "comfyctl start");
    }
}
