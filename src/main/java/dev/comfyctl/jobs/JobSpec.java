package dev.comfyctl.jobs;

import java.util.List;
import java.util.Optional;

/**
 * What a client submits: the body of ComfyUI's {@code POST /prompt} and comfyctl's extras.
 *
 * @param prompt the API-format workflow, as JSON text (the value of {@code "prompt"})
 * @param priority higher runs first; equal priorities run oldest first
 * @param webhook called when the job finishes
 * @param inputs files the workflow loads, uploaded to ComfyUI's input directory before it runs
 */
public record JobSpec(String prompt, int priority, Optional<String> webhook, List<JobInput> inputs) {
    public JobSpec {
        inputs = List.copyOf(inputs);
    }
}
