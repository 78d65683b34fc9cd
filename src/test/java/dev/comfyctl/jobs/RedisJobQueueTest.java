package dev.comfyctl.jobs;

import com.fasterxml.jackson.databind.JsonNode;
import dev.comfyctl.supervisor.Strays;
import dev.comfyctl.testing.FakeComfyUi;
import dev.comfyctl.testing.RedisServer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

/** The job queue on Redis (QUEUE_URL), with what only a fleet can do: daemons sharing one queue. */
class RedisJobQueueTest extends JobQueueBehaviour {
    private RedisServer redis;

    @BeforeEach
    void startRedis() {
        redis = RedisServer.start(temp.resolve("redis"));
        closeAfter(redis);
    }

    @Override
    List<String> backend() {
        return List.of("QUEUE_URL", redis.url().toString());
    }

    @Test
    void aJobWhoseDaemonIsKilledMidJobIsTakenOverByAnotherDaemonOfTheFleet() throws Exception {
        FakeComfyUi otherInstall = FakeComfyUi.install(temp.resolve("other").resolve("ComfyUI"));
        otherInstall.behave(Map.of("prompt_seconds", 60));
        closeAfter(() -> Strays.stopAll(otherInstall.dir(), Duration.ofSeconds(2)));
        ServeProcess doomed = ServeProcess.start(processEnvironment(otherInstall), temp.resolve("other").resolve("state"), temp);
        closeAfter(doomed);
        JobApi doomedApi = new JobApi(doomed.baseUri());
        String id = doomedApi.submit(JobApi.workflow(0x00FF00, "fleet"));
        doomedApi.awaitState(id, "running", LONG);

        startDaemon(Map.of("prompt_seconds", 0.2), true);
        doomed.kill9();

        JsonNode job = api.awaitState(id, "succeeded", LONG);
        assertThat(job.path("attempts").asInt()).isEqualTo(2);
        assertThat(job.path("outputs")).hasSize(1);
        assertThat(api.bytes("/jobs/" + id + "/outputs/" + job.path("outputs").get(0).path("filename").asText()))
                .hasSize(job.path("outputs").get(0).path("size").asInt());
        await().atMost(LONG).until(() -> api.get("/fleet").body().path("machines").size() >= 1);
        assertThat(outputFiles(id)).as("stored by the daemon that took the job over").hasSize(1);
    }
}
