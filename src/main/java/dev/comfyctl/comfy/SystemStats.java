package dev.comfyctl.comfy;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.List;
import java.util.stream.StreamSupport;

/**
 * What {@code GET /system_stats} reports. Text fields a ComfyUI version does not report are empty,
 * numbers 0.
 *
 * @param os {@code os.name} of the Python process, e.g. {@code posix}
 * @param argv ComfyUI's {@code sys.argv}: the script path as given, then the flags it was started with
 * @param ramTotal bytes
 * @param ramFree bytes
 */
public record SystemStats(String os, String pythonVersion, String comfyuiVersion, String pytorchVersion,
                          List<String> argv, long ramTotal, long ramFree, List<Device> devices) {

    public SystemStats {
        argv = List.copyOf(argv);
        devices = List.copyOf(devices);
    }

    /**
     * One torch device as ComfyUI sees it.
     *
     * @param name e.g. {@code cuda:0 NVIDIA GeForce RTX 4090 : cudaMallocAsync}
     * @param type {@code cuda}, {@code cpu}, {@code mps}, ...
     * @param index torch's index (after CUDA_VISIBLE_DEVICES), -1 when ComfyUI reports none (the CPU)
     * @param vramTotal bytes
     * @param vramFree bytes
     */
    public record Device(String name, String type, int index, long vramTotal, long vramFree) {
    }

    static SystemStats fromJson(JsonNode root) {
        JsonNode system = root.path("system");
        List<String> argv = StreamSupport.stream(system.path("argv").spliterator(), false)
                .map(JsonNode::asText).toList();
        List<Device> devices = StreamSupport.stream(root.path("devices").spliterator(), false)
                .map(d -> new Device(d.path("name").asText(), d.path("type").asText(),
                        d.path("index").isInt() ? d.path("index").asInt() : -1,
                        d.path("vram_total").asLong(), d.path("vram_free").asLong()))
                .toList();
        return new SystemStats(system.path("os").asText(), system.path("python_version").asText(),
                system.path("comfyui_version").asText(), system.path("pytorch_version").asText(), argv,
                system.path("ram_total").asLong(), system.path("ram_free").asLong(), devices);
    }
}
