package dev.comfyctl.jobs;

/**
 * A worker's hold on a job it claimed. Lost when not renewed within the visibility timeout: the job is then
 * claimed again by another worker, and this holder's results are refused.
 *
 * @param attempt which attempt of the job this is, from 1
 * @param token the backend's handle (a row version, a stream entry id)
 */
public record Lease(Job job, String worker, int attempt, String token) {
    public String jobId() {
        return job.id();
    }
}
