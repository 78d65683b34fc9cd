package dev.comfyctl.jobs;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Where jobs live: an embedded SQLite file for one machine, or Redis Streams for a fleet. Every write is durable
 * when the method returns: it survives the daemon's death (what a power cut may take is each backend's story, see
 * its javadoc). Every method may be called from any thread. Delivery is at least once: a worker that dies mid-job
 * loses its lease and the job runs again elsewhere, and the first result to arrive is the one kept.
 *
 * <p>Every method but {@link #subscribe} blocks on disk or network: never call one on an event loop (use
 * {@code executeBlocking} or a worker thread); after {@link #close} each throws IllegalStateException, and a
 * {@link JobStoreException} says when the backend fails. A lease is lost only when another worker reclaimed the job, or it was cancelled or finished: a
 * holder past its visibility timeout whose job nobody took yet may still renew or finish it.
 *
 * <p>Besides the workers' own events, the store publishes a {@code state} event on every change of state:
 * {@code {"state": "running", "attempt": 1, "worker": "w1"}}, with {@code "error"} when an attempt failed and
 * {@code "cancelRequested": true} when a running job is asked to stop.
 */
public interface JobStore extends AutoCloseable {

    /** Stores a new queued job. */
    Job enqueue(JobSpec spec);

    Optional<Job> find(String id);

    /** Newest first; every state when {@code state} is empty. Without input files' contents: {@link #find} has them. */
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

    /**
     * Extends the lease; false when the job was cancelled (it is then CANCELLED) or the lease was lost, and the
     * worker must drop it.
     */
    boolean renew(Lease lease, Duration visibility);

    /**
     * Records progress (0 to 1) and relays the events, in order, to subscribers: one write for the lot, so that a
     * worker hands over at once whatever ComfyUI said since its last call. Nothing is recorded or relayed when the
     * lease was lost.
     */
    void progress(Lease lease, double progress, List<JobEvent> events);

    /**
     * Succeeds the job with its outputs; false when the lease was lost or another attempt finished it first (the
     * first result stays), or when it was cancelled meanwhile (it is then CANCELLED, without outputs).
     */
    boolean succeed(Lease lease, List<JobOutput> outputs);

    /**
     * {@link #progress} with the attempt's last progress and events, then {@link #succeed}, in one write where the
     * backend can: a finished job costs one call instead of two. The events reach subscribers before the job's
     * final state, and neither is recorded or relayed when the lease was lost.
     *
     * @return as {@link #succeed(Lease, List)}
     */
    default boolean succeed(Lease lease, double progress, List<JobEvent> events, List<JobOutput> outputs) {
        progress(lease, progress, events);
        return succeed(lease, outputs);
    }

    /**
     * An attempt failed. Retryable failures requeue the job while attempts remain; otherwise it ends FAILED and
     * goes to the dead letters with every attempt's error. A lost lease changes nothing; a job asked to cancel ends
     * CANCELLED.
     *
     * @return the job as it is now
     */
    Job fail(Lease lease, String error, boolean retryable);

    /** Gives the job back untouched (drain, shutdown): it does not count as an attempt. A job asked to cancel ends CANCELLED. */
    void release(Lease lease);

    /**
     * Queued: cancelled now. Running: cancel requested, its worker interrupts it and the job ends CANCELLED at the
     * worker's next renew, fail or release (or when its lease expires). Finished: unchanged. Empty for an unknown id.
     */
    Optional<Job> cancel(String id);

    /** Jobs that ended FAILED (attempts used up, or a final error), with every attempt's error, newest first. */
    List<Job> deadLetters(int limit);

    /**
     * Removes up to {@code limit} finished jobs (succeeded, failed, cancelled) that finished before
     * {@code finishedBefore}, oldest first, with their inputs: a fleet's Redis or a daemon's database holds jobs for a
     * while, not for ever (JOB_RETENTION_HOURS). Their ids, for the caller to remove their stored outputs.
     */
    List<String> prune(Instant finishedBefore, int limit);

    /**
     * Live events of one job from any worker of the fleet, until the returned handle is closed. Listeners run on a
     * store thread, in order: they must not block. May be called on an event loop; from another thread it returns
     * once the subscription is in effect.
     */
    AutoCloseable subscribe(String jobId, Consumer<JobEvent> listener);

    @Override
    void close();
}
