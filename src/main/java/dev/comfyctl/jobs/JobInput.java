package dev.comfyctl.jobs;

/** A file sent with a job, stored with it so that any worker of the fleet can upload it to its ComfyUI. */
public record JobInput(String name, byte[] content) {
}
