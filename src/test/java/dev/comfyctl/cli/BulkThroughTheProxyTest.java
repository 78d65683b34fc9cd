package dev.comfyctl.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.Http;
import dev.comfyctl.testing.Ports;
import dev.comfyctl.testing.Zeros;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/**
 * A 1 GB body each way through a daemon whose heap is capped far below it: had the proxy buffered a body,
 * the daemon would have run out of memory.
 */
@Timeout(300)
class BulkThroughTheProxyTest {
    private static final long ONE_GIB = 1L << 30;

    @TempDir
    Path temp;

    @Test
    void oneGigabyteEachWayStreamsThroughADaemonWithA48MegabyteHeap() throws Exception {
        FakeComfyUi fake = FakeComfyUi.install(temp.resolve("ComfyUI"));
        int managerPort = Ports.free();
        Comfyctl comfyctl = new Comfyctl(temp, Map.of(
                "COMFYCTL_HOME", temp.resolve("state").toString(),
                "COMFYUI_DIR", fake.dir().toString(),
                "MANAGER_PORT", Integer.toString(managerPort),
                "COMFYUI_PORT", Integer.toString(Ports.free()),
                "GPU_MODE", "cpu")).withJvmOptions("-Xmx48m", "-XX:+UseSerialGC");
        Process serve = comfyctl.spawn("serve");
        URI base = URI.create("http://127.0.0.1:" + managerPort);
        try {
            await().atMost(Duration.ofSeconds(60)).until(() -> Files.exists(temp.resolve("state/comfyui.pid")));

            HttpResponse<InputStream> download = Http.CLIENT.send(HttpRequest.newBuilder(base.resolve("/fake/bytes?n=" + ONE_GIB)).build(),
                    HttpResponse.BodyHandlers.ofInputStream());
            long received;
            try (InputStream body = download.body()) {
                received = body.transferTo(OutputStream.nullOutputStream());
            }
            HttpResponse<String> upload = Http.CLIENT.send(HttpRequest.newBuilder(base.resolve("/fake/sink"))
                    .POST(HttpRequest.BodyPublishers.ofInputStream(() -> new Zeros(ONE_GIB))).build(), HttpResponse.BodyHandlers.ofString());

            assertThat(received).isEqualTo(ONE_GIB);
            assertThat(upload.statusCode()).as(upload.body()).isEqualTo(200);
            assertThat(new ObjectMapper().readTree(upload.body()).path("bytes").asLong()).isEqualTo(ONE_GIB);
            assertThat(serve.isAlive()).isTrue();
        } finally {
            serve.toHandle().destroy();
            serve.waitFor(30, TimeUnit.SECONDS);
        }
    }
}
