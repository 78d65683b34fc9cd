package dev.comfyctl.jobs;

import java.time.Duration;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Where jobs live: an embedded SQLite file for one machine, or Redis Streams for a fleet. Every write is durable
 * when the method returns; every method may be called from any thread. Delivery is at least once: a worker that
 * dies mid-job loses its lease and the job runs again elsewhere, and the first result to arrive is the one kept.
 */
public interface JobStore extends AutoCloseable {

    /** Stores a new queued job. */
    Job enqueue(JobSpec spec);

    Optional<Job> find(String id);

    /** Newest first; every state when {@code state} is empty. */
    List<Job> list(Optional<JobState> state, int limit);

    /** Jobs waiting to run. */
    long depth();

    /**
     * Leases the next job to {@code worker}: highest priority, then oldest; a job whose lease expired (its worker
     * died) is reclaimed first, as a new attempt. Waits up to {@code wait} for one.
     *
     * @param visibility how long the lease holds without a {@link #renew}
     */
    Optional<Lease> claim(String worker, Duration visibility, Duration wait) throws InterruptedException;

    /** Extends the lease; false when the job was cancelled or the lease was lost, and the worker must drop it. */
    boolean renew(Lease lease, Duration visibility);

    /** Records progress (0 to 1) and relays the event to subscribers. */
    void progress(Lease lease, double progress, JobEvent event);

    /** Succeeds the job with its outputs; false when the lease was lost or another attempt finished it first. */
    boolean succeed(Lease lease, List<JobOutput> outputs);

    /**
     * An attempt failed. Retryable failures requeue the job while attempts remain; otherwise it ends FAILED and
     * goes to the dead letters with every attempt's error.
     */
    Job fail(Lease lease, String error, boolean retryable);

    /** Gives the job back untouched (drain, shutdown): it does not count as an attempt. */
    void release(Lease lease);

    /** Queued: cancelled now. Running: cancel requested, its worker interrupts it. Finished: unchanged. */
    Optional<Job> cancel(String id);

    /** Failed jobs that used up their attempts, newest first. */
    List<Job> deadLetters(int limit);

    /** Live events of one job from any worker of the fleet, until the returned handle is closed. */
    AutoCloseable subscribe(String jobId, Consumer<JobEvent> listener);

    @Override
    void close();
}
