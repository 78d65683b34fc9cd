package dev.comfyctl.testing;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class FakeNvidiaSmiTest {

    @Test
    void queryGpuPrintsOneCsvLinePerConfiguredGpu() throws Exception {
        Result result = run(Map.of("FAKE_GPUS", "NVIDIA A100:81920:80000;NVIDIA L4:23034:1000"),
                "--query-gpu=index,name,memory.total,memory.free,memory.used,driver_version",
                "--format=csv,noheader,nounits");

        assertThat(result.exitCode).isZero();
        assertThat(result.stdout.lines()).containsExactly(
                "0, NVIDIA A100, 81920, 80000, 1920, 550.54.15",
                "1, NVIDIA L4, 23034, 1000, 22034, 550.54.15");
    }

    @Test
    void unitsAreAppendedUnlessNounitsIsAsked() throws Exception {
        Result result = run(Map.of(), "--query-gpu=name,memory.total", "--format=csv,noheader");

        assertThat(result.stdout.strip()).isEqualTo("NVIDIA GeForce RTX 4090, 24564 MiB");
    }

    @Test
    void computeAppsComeFromFakeGpuApps() throws Exception {
        Result result = run(Map.of("FAKE_GPU_APPS", "4242:1500;4343:20"),
                "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits");

        assertThat(result.stdout.lines()).containsExactly("4242, 1500", "4343, 20");
    }

    @Test
    void aBrokenDriverFailsWithExitCode9LikeTheRealTool() throws Exception {
        Result result = run(Map.of("FAKE_NVIDIA_SMI_FAIL", "1", "FAKE_NVIDIA_DRIVER", "535.1"), "-L");

        assertThat(result.exitCode).isEqualTo(9);
        assertThat(result.stdout).startsWith("NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver");
    }

    @Test
    void listAndTableNameTheDriverAndGpus() throws Exception {
        assertThat(run(Map.of(), "-L").stdout).startsWith("GPU 0: NVIDIA GeForce RTX 4090 (UUID: GPU-");
        assertThat(run(Map.of("FAKE_NVIDIA_DRIVER", "560.35.03")).stdout)
                .contains("Driver Version: 560.35.03", "NVIDIA GeForce RTX 4090", "1564MiB / 24564MiB");
    }

    @Test
    void aShellFindsItFirstOnPath() throws Exception {
        ProcessBuilder builder = new ProcessBuilder("sh", "-c", "nvidia-smi -L").redirectErrorStream(true);
        builder.environment().put("PATH", FakeNvidiaSmi.binDir() + ":" + System.getenv("PATH"));
        Process process = builder.start();

        assertThat(new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).startsWith("GPU 0: ");
        assertThat(process.waitFor()).isZero();
    }

    private record Result(int exitCode, String stdout) {
    }

    private static Result run(Map<String, String> env, String... args) throws IOException, InterruptedException {
        List<String> command = new ArrayList<>(List.of(FakeNvidiaSmi.binDir().resolve("nvidia-smi").toString()));
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true);
        builder.environment().putAll(env);
        Process process = builder.start();
        String stdout = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(20, TimeUnit.SECONDS)).isTrue();
        return new Result(process.exitValue(), stdout);
    }
}
