import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.ServerWebSocket;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.zip.CRC32;
import java.util.zip.Deflater;

/**
 * A fake ComfyUI for bench/jobs.sh only, fast enough not to be the benchmark's ceiling: one Vert.x event loop,
 * prompts that complete at once, images kept in memory. It speaks the part of ComfyUI's API
 * (/work/shared/comfyui-api.md) that a job run and the supervisor use, with the messages ComfyUI sends for a prompt
 * of nodes without sampling steps (execution_start, execution_cached, executing per node, executed for an output
 * node, execution_success, executing with node null once the history entry is written; no progress messages, which
 * ComfyUI sends only for steps, and which the python test fixture adds to exercise them):
 * {@code /ws} with its status greeting, {@code POST /prompt}, {@code GET /history/{id}}, {@code /view},
 * {@code POST /upload/image}, {@code /object_info}, {@code /queue}, {@code /system_stats}, {@code /interrupt},
 * each also under {@code /api}. Prompts run one at a time, in order, as in ComfyUI.
 *
 * <p>Compiled by bench/jobs.sh and started by the daemon through COMFYUI_START_CMD
 * ({@code java -cp target/comfyctl.jar:CLASSES FastComfy}), which adds {@code --listen HOST --port N} and ComfyUI's
 * launch flags (ignored here). It exits when the process that started it does.
 */
public class FastComfy {
    /** ComfyUI keeps its last 10,000 prompts; the fake keeps as many outputs too, which a job fetches at once. */
    static final int HISTORY_KEPT = 10_000;
    static final Map<String, JsonObject> NODES = nodes();

    final Map<String, List<ServerWebSocket>> sockets = new HashMap<>();
    final Map<String, JsonObject> history = lastKept();
    /** Kept in memory, a bounded number: a bench makes hundreds of thousands, and a fake's heap is small. */
    final Map<String, Buffer> files = lastKept();
    final Map<String, Integer> counters = new HashMap<>();
    long number;

    public static void main(String[] args) {
        String host = "127.0.0.1";
        int port = 8188;
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals("--listen")) {
                host = args[i + 1];
            } else if (args[i].equals("--port")) {
                port = Integer.parseInt(args[i + 1]);
            }
        }
        // ComfyUI runs in a session of its own (setsid): a daemon killed with -9 leaves it behind, and the daemon
        // finds strays by their main.py, which this fake has not. It goes with the daemon that started it instead,
        // within 100 ms, so that the daemon's next start finds its port free (onExit() of a process that is not a
        // child polls ever more slowly, up to every 5 s); at once when that daemon died while this JVM started.
        Optional<ProcessHandle> parent = ProcessHandle.current().parent();
        if (parent.isEmpty() || parent.get().pid() == 1) {
            System.exit(0);
        }
        Vertx vertx = Vertx.vertx();
        vertx.setPeriodic(100, id -> {
            if (!parent.get().isAlive()) {
                System.exit(0);
            }
        });
        FastComfy comfy = new FastComfy();
        vertx.createHttpServer()
                .webSocketHandler(comfy::socket)
                .requestHandler(comfy::request)
                .listen(port, host)
                .onSuccess(server -> System.out.println("To see the GUI go to: http://" + server.actualPort()))
                .onFailure(e -> {
                    e.printStackTrace();
                    System.exit(1);
                });
    }

    void socket(ServerWebSocket ws) {
        String path = ws.path().startsWith("/api/") ? ws.path().substring(4) : ws.path();
        if (!path.equals("/ws")) {
            ws.close();
            return;
        }
        String sid = query(ws.query(), "clientId");
        String id = sid == null || sid.isEmpty() ? UUID.randomUUID().toString().replace("-", "") : sid;
        sockets.computeIfAbsent(id, k -> new ArrayList<>()).add(ws);
        ws.closeHandler(v -> {
            List<ServerWebSocket> list = sockets.get(id);
            if (list != null && list.remove(ws) && list.isEmpty()) {
                sockets.remove(id);
            }
        });
        ws.textMessageHandler(text -> { });
        ws.writeTextMessage(message("status", new JsonObject().put("status", status()).put("sid", id)));
    }

    void request(HttpServerRequest request) {
        String path = request.path().startsWith("/api/") ? request.path().substring(4) : request.path();
        HttpMethod method = request.method();
        request.body().onSuccess(body -> {
            try {
                route(request, method, path, body);
            } catch (RuntimeException e) {
                json(request, 500, new JsonObject().put("error", e.toString()));
            }
        });
    }

    void route(HttpServerRequest request, HttpMethod method, String path, Buffer body) {
        if (method == HttpMethod.POST && path.equals("/prompt")) {
            prompt(request, body.toJsonObject());
        } else if (method == HttpMethod.GET && path.startsWith("/history/")) {
            String id = path.substring("/history/".length());
            JsonObject entry = history.get(id);
            json(request, 200, entry == null ? new JsonObject() : new JsonObject().put(id, entry));
        } else if (method == HttpMethod.GET && path.equals("/history")) {
            JsonObject all = new JsonObject();
            history.forEach(all::put);
            json(request, 200, all);
        } else if (method == HttpMethod.GET && path.equals("/view")) {
            Buffer file = files.get(request.getParam("type", "output") + "/" + request.getParam("subfolder", "") + "/"
                    + request.getParam("filename", ""));
            if (file == null) {
                request.response().setStatusCode(404).end();
            } else {
                request.response().putHeader("Content-Type", "image/png").end(file);
            }
        } else if (method == HttpMethod.POST && path.equals("/upload/image")) {
            // The multipart body is accepted and dropped: inputs are not read back in the bench.
            json(request, 200, new JsonObject().put("name", "upload.png").put("subfolder", "").put("type", "input"));
        } else if (method == HttpMethod.GET && path.equals("/object_info")) {
            JsonObject all = new JsonObject();
            NODES.forEach(all::put);
            json(request, 200, all);
        } else if (method == HttpMethod.GET && path.startsWith("/object_info/")) {
            String name = path.substring("/object_info/".length());
            json(request, 200, NODES.containsKey(name) ? new JsonObject().put(name, NODES.get(name)) : new JsonObject());
        } else if (method == HttpMethod.GET && path.equals("/queue")) {
            json(request, 200, new JsonObject().put("queue_running", new JsonArray()).put("queue_pending", new JsonArray()));
        } else if (method == HttpMethod.POST && (path.equals("/queue") || path.equals("/interrupt") || path.equals("/free"))) {
            request.response().setStatusCode(200).end();
        } else if (method == HttpMethod.GET && path.equals("/prompt")) {
            json(request, 200, status());
        } else if (method == HttpMethod.GET && path.equals("/system_stats")) {
            json(request, 200, systemStats());
        } else if (method == HttpMethod.GET && path.equals("/")) {
            request.response().putHeader("Content-Type", "text/html").end("<html><body>fast fake ComfyUI</body></html>");
        } else {
            request.response().setStatusCode(404).end("404: Not Found");
        }
    }

    /** Validates like ComfyUI (known classes, an output node), answers, then runs it at once. */
    void prompt(HttpServerRequest request, JsonObject body) {
        JsonObject prompt = body.getJsonObject("prompt");
        if (prompt == null || prompt.isEmpty()) {
            json(request, 400, refusal("invalid_prompt", "Invalid prompt: no prompt"));
            return;
        }
        boolean hasOutput = false;
        for (String nodeId : prompt.fieldNames()) {
            String classType = prompt.getJsonObject(nodeId).getString("class_type");
            if (!NODES.containsKey(classType)) {
                json(request, 400, refusal("invalid_prompt", "Cannot execute because node " + classType + " does not exist."));
                return;
            }
            hasOutput |= NODES.get(classType).getBoolean("output_node");
        }
        if (!hasOutput) {
            json(request, 400, refusal("prompt_no_outputs", "Prompt has no outputs"));
            return;
        }
        String promptId = UUID.randomUUID().toString();
        long n = number++;
        String clientId = body.getString("client_id");
        json(request, 200, new JsonObject().put("prompt_id", promptId).put("number", n).put("node_errors", new JsonObject()));
        io.vertx.core.Vertx.currentContext().runOnContext(v -> execute(n, promptId, prompt, clientId));
    }

    void execute(long n, String promptId, JsonObject prompt, String clientId) {
        JsonArray messages = new JsonArray();
        send(clientId, messages, "execution_start", new JsonObject().put("prompt_id", promptId).put("timestamp", System.currentTimeMillis()));
        send(clientId, messages, "execution_cached", new JsonObject().put("nodes", new JsonArray()).put("prompt_id", promptId)
                .put("timestamp", System.currentTimeMillis()));
        JsonObject outputs = new JsonObject();
        for (String nodeId : prompt.fieldNames()) {
            send(clientId, null, "executing", new JsonObject().put("node", nodeId).put("display_node", nodeId).put("prompt_id", promptId));
            JsonObject node = prompt.getJsonObject(nodeId);
            String classType = node.getString("class_type");
            if (classType.equals("SaveImage") || classType.equals("PreviewImage")) {
                String kind = classType.equals("SaveImage") ? "output" : "temp";
                String prefix = node.getJsonObject("inputs", new JsonObject()).getString("filename_prefix", "ComfyUI");
                int counter = counters.merge(kind + "/" + prefix, 1, Integer::sum);
                String filename = prefix + "_" + String.format("%05d", counter) + "_.png";
                files.put(kind + "//" + filename, PNG);
                JsonObject ui = new JsonObject().put("images", new JsonArray().add(new JsonObject().put("filename", filename)
                        .put("subfolder", "").put("type", kind)));
                outputs.put(nodeId, ui);
                send(clientId, null, "executed", new JsonObject().put("node", nodeId).put("display_node", nodeId).put("output", ui)
                        .put("prompt_id", promptId));
            }
        }
        send(clientId, messages, "execution_success", new JsonObject().put("prompt_id", promptId).put("timestamp", System.currentTimeMillis()));
        history.put(promptId, new JsonObject()
                .put("prompt", new JsonArray().add(n).add(promptId).add(prompt).add(new JsonObject()).add(new JsonArray()))
                .put("outputs", outputs)
                .put("status", new JsonObject().put("status_str", "success").put("completed", true).put("messages", messages))
                .put("meta", new JsonObject()));
        if (clientId != null) {
            send(clientId, null, "executing", new JsonObject().putNull("node").put("prompt_id", promptId));
        }
    }

    /** To the client that submitted the prompt (as ComfyUI does when it has a client_id), else to every socket. */
    void send(String clientId, JsonArray record, String type, JsonObject data) {
        if (record != null) {
            record.add(new JsonArray().add(type).add(data));
        }
        String text = message(type, data);
        if (clientId == null) {
            sockets.values().forEach(list -> list.forEach(ws -> ws.writeTextMessage(text)));
        } else {
            sockets.getOrDefault(clientId, List.of()).forEach(ws -> ws.writeTextMessage(text));
        }
    }

    static String message(String type, JsonObject data) {
        return new JsonObject().put("type", type).put("data", data).encode();
    }

    static JsonObject status() {
        return new JsonObject().put("exec_info", new JsonObject().put("queue_remaining", 0));
    }

    static JsonObject refusal(String type, String message) {
        return new JsonObject().put("error", new JsonObject().put("type", type).put("message", message).put("details", "")
                .put("extra_info", new JsonObject())).put("node_errors", new JsonObject());
    }

    static JsonObject systemStats() {
        return new JsonObject()
                .put("system", new JsonObject().put("os", "posix").put("ram_total", 8L << 30).put("ram_free", 4L << 30)
                        .put("comfyui_version", "0.3.40").put("python_version", "fast fake (Java)").put("pytorch_version", "none")
                        .put("embedded_python", false).put("argv", new JsonArray()))
                .put("devices", new JsonArray().add(new JsonObject().put("name", "cpu").put("type", "cpu").putNull("index")
                        .put("vram_total", 8L << 30).put("vram_free", 4L << 30).put("torch_vram_total", 8L << 30)
                        .put("torch_vram_free", 4L << 30)));
    }

    static void json(HttpServerRequest request, int status, JsonObject body) {
        request.response().setStatusCode(status).putHeader("Content-Type", "application/json").end(body.encode());
    }

    static String query(String query, String name) {
        if (query == null) {
            return null;
        }
        for (String pair : query.split("&")) {
            int eq = pair.indexOf('=');
            if (eq > 0 && pair.substring(0, eq).equals(name)) {
                return java.net.URLDecoder.decode(pair.substring(eq + 1), java.nio.charset.StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    static <V> Map<String, V> lastKept() {
        return new LinkedHashMap<>(16, 0.75f, false) {
            @Override
            protected boolean removeEldestEntry(Map.Entry<String, V> eldest) {
                return size() > HISTORY_KEPT;
            }
        };
    }

    static Map<String, JsonObject> nodes() {
        Map<String, JsonObject> nodes = new LinkedHashMap<>();
        JsonArray image = new JsonArray().add("IMAGE");
        JsonObject integer = new JsonObject().put("default", 512).put("min", 1).put("max", 16384).put("step", 1);
        nodes.put("EmptyImage", node("EmptyImage", new JsonObject().put("width", new JsonArray().add("INT").add(integer))
                .put("height", new JsonArray().add("INT").add(integer))
                .put("batch_size", new JsonArray().add("INT").add(integer.copy().put("default", 1).put("max", 4096)))
                .put("color", new JsonArray().add("INT").add(new JsonObject().put("default", 0).put("min", 0).put("max", 0xFFFFFF))),
                image, false));
        nodes.put("ImageInvert", node("ImageInvert", new JsonObject().put("image", image), image, false));
        nodes.put("SaveImage", node("SaveImage", new JsonObject().put("images", image)
                .put("filename_prefix", new JsonArray().add("STRING").add(new JsonObject().put("default", "ComfyUI"))), new JsonArray(), true));
        nodes.put("PreviewImage", node("PreviewImage", new JsonObject().put("images", image), new JsonArray(), true));
        return nodes;
    }

    static JsonObject node(String name, JsonObject required, JsonArray output, boolean outputNode) {
        JsonArray outputIsList = new JsonArray();
        output.forEach(o -> outputIsList.add(false));
        return new JsonObject().put("input", new JsonObject().put("required", required))
                .put("input_order", new JsonObject().put("required", new JsonArray(new ArrayList<>(required.fieldNames()))))
                .put("output", output).put("output_is_list", outputIsList).put("output_name", output).put("name", name)
                .put("display_name", name).put("description", "").put("python_module", "nodes").put("category", "image")
                .put("output_node", outputNode);
    }

    /** The 8x8 PNG every saved image is (ComfyUI's bytes differ, their handling does not). */
    static final Buffer PNG = png(8, 8, 0x336699);

    static Buffer png(int width, int height, int rgb) {
        try {
            ByteArrayOutputStream raw = new ByteArrayOutputStream();
            for (int y = 0; y < height; y++) {
                raw.write(0);
                for (int x = 0; x < width; x++) {
                    raw.write(rgb >> 16);
                    raw.write(rgb >> 8);
                    raw.write(rgb);
                }
            }
            Deflater deflater = new Deflater();
            deflater.setInput(raw.toByteArray());
            deflater.finish();
            byte[] compressed = new byte[1024];
            int length = deflater.deflate(compressed);
            ByteArrayOutputStream png = new ByteArrayOutputStream();
            png.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
            ByteArrayOutputStream header = new ByteArrayOutputStream();
            DataOutputStream h = new DataOutputStream(header);
            h.writeInt(width);
            h.writeInt(height);
            h.write(new byte[] {8, 2, 0, 0, 0});
            chunk(png, "IHDR", header.toByteArray());
            chunk(png, "IDAT", java.util.Arrays.copyOf(compressed, length));
            chunk(png, "IEND", new byte[0]);
            return Buffer.buffer(png.toByteArray());
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    static void chunk(ByteArrayOutputStream out, String kind, byte[] data) throws IOException {
        DataOutputStream d = new DataOutputStream(out);
        d.writeInt(data.length);
        byte[] type = kind.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        d.write(type);
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(type);
        crc.update(data);
        d.writeInt((int) crc.getValue());
    }
}
