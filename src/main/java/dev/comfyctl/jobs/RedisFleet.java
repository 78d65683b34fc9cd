package dev.comfyctl.jobs;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.vertx.core.Vertx;
import io.vertx.redis.client.Command;
import io.vertx.redis.client.Request;
import io.vertx.redis.client.Response;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.net.URI;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The fleet on the queue's Redis: each machine a key {@code comfyctl:fleet:<id>} holding its last heartbeat as
 * JSON, expiring after the time to live, and its id in the set {@code comfyctl:fleet}; an id whose key expired is
 * dropped from the set when the machines are listed.
 */
public final class RedisFleet implements Fleet {
    private static final Logger log = LoggerFactory.getLogger(RedisFleet.class);
    private static final String MEMBERS = "comfyctl:fleet";
    private static final String MACHINE = "comfyctl:fleet:";

    private static final ObjectMapper JSON = new ObjectMapper();

    private final RedisLink link;
    private final Duration timeToLive;

    /** @throws JobStoreException when Redis does not answer */
    public RedisFleet(Vertx vertx, URI url, Duration timeToLive) {
        this.link = new RedisLink(vertx, url);
        this.timeToLive = timeToLive;
    }

    @Override
    public void heartbeat(MachineInfo machine) {
        ObjectNode node = JSON.createObjectNode().put("machineId", machine.machineId())
                .put("instances", machine.instances()).put("queueDepth", machine.queueDepth())
                .put("lastSeen", machine.lastSeen().toString());
        machine.gpus().forEach(node.putArray("gpus")::add);
        String text = node.toString();
        link.batch(List.of(
                Request.cmd(Command.SET).arg(MACHINE + machine.machineId()).arg(text).arg("PX").arg(timeToLive.toMillis()),
                Request.cmd(Command.SADD).arg(MEMBERS).arg(machine.machineId())));
    }

    @Override
    public List<MachineInfo> machines() {
        List<String> ids = new ArrayList<>();
        link.send(Request.cmd(Command.SMEMBERS).arg(MEMBERS)).forEach(id -> ids.add(id.toString()));
        if (ids.isEmpty()) {
            return List.of();
        }
        Request get = Request.cmd(Command.MGET);
        ids.forEach(id -> get.arg(MACHINE + id));
        Response values = link.send(get);
        List<MachineInfo> machines = new ArrayList<>();
        List<String> gone = new ArrayList<>();
        for (int i = 0; i < ids.size(); i++) {
            Response value = values.get(i);
            if (value == null) {
                gone.add(ids.get(i));
                continue;
            }
            try {
                machines.add(machine(JSON.readTree(value.toString())));
            } catch (JsonProcessingException | RuntimeException e) {
                log.warn("machine {} has an unreadable heartbeat in {}: {}", ids.get(i), link.where(), e.getMessage());
            }
        }
        if (!gone.isEmpty()) {
            Request remove = Request.cmd(Command.SREM).arg(MEMBERS);
            gone.forEach(remove::arg);
            link.send(remove);
        }
        machines.sort(Comparator.comparing(MachineInfo::machineId));
        return machines;
    }

    private static MachineInfo machine(JsonNode node) {
        List<String> gpus = new ArrayList<>();
        node.path("gpus").forEach(gpu -> gpus.add(gpu.asText()));
        return new MachineInfo(node.path("machineId").asText(), gpus, node.path("instances").asInt(),
                node.path("queueDepth").asLong(), Instant.parse(node.path("lastSeen").asText()));
    }

    @Override
    public void close() {
        link.close();
    }
}
