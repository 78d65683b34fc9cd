package dev.comfyctl.jobs;

/**
 * A file a job produced, as ComfyUI names it ({@code filename}, {@code subfolder}, {@code type}) and as
 * comfyctl stored it.
 *
 * @param node the id of the node that produced it
 * @param path where comfyctl stored it, relative to the output directory
 */
public record JobOutput(String node, String filename, String subfolder, String type, String path, long size, String sha256) {
}
