package fulgur.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * The persistent workers behind {@link Parallel}. A call publishes its {@link Job} in one slot and unparks only the
 * parked workers it can use; a worker that has just run chunks spins on the slot for {@code spinNanos} before it
 * parks, so the next kernel of a decoding step (microseconds later) finds it awake and costs no futex wake-up. The
 * caller runs the chunks nobody has claimed, then waits for those others claimed: briefly spinning, then parked until
 * the last one finishes.
 *
 * <p>Correctness never depends on a worker joining: a newer call replacing an older job in the slot only leaves the
 * older one fewer helpers, whose caller runs whatever they did not claim.
 */
final class WorkerPool {

    /** A worker's state: watching the slot, busy with a job, or parked until a publisher unparks it. */
    private static final int SPINNING = 0, RUNNING = 1, PARKED = 2;

    private final Worker[] workers;
    private final long spinNanos;
    private final AtomicReference<Job> slot = new AtomicReference<>();
    private volatile boolean closed;

    /** Starts {@code workers} daemon threads named {@code namePrefix + 1..workers}. */
    WorkerPool(int workers, long spinNanos, String namePrefix) {
        this.spinNanos = Math.max(0, spinNanos);
        this.workers = new Worker[workers];
        for (int i = 0; i < workers; i++) {
            this.workers[i] = new Worker(namePrefix + (i + 1));
            this.workers[i].start();
        }
    }

    /** Runs {@code task} over {@code [0, count)} in {@code chunks} chunks (2 ≤ chunks ≤ count), as Parallel does. */
    void run(int count, int chunks, Parallel.RangeTask task) {
        Job job = new Job(count, chunks, task, Math.min(chunks - 1, workers.length));
        slot.set(job);
        wake(job.helpers);
        boolean was = Parallel.IN_WORKER.get();
        Parallel.IN_WORKER.set(true);
        try {
            job.runUnclaimed();
        } finally {
            Parallel.IN_WORKER.set(was);
        }
        job.awaitFinished(spinNanos);
        slot.compareAndSet(job, null); // drop the task's captures; workers treat an empty slot as nothing new
        job.rethrow();
    }

    /**
     * Makes sure up to {@code want} workers will look at the slot: a spinning one will by itself, a parked one is
     * unparked. The slot was written before the states are read and a worker writes PARKED before it reads the slot
     * again (both volatile), so a worker that parks either sees the new job or is seen parked here: none is missed.
     */
    private void wake(int want) {
        for (int i = 0; i < workers.length && want > 0; i++) {
            Worker w = workers[i];
            int s = w.state.get();
            if (s == SPINNING) {
                want--;
            } else if (s == PARKED && w.state.compareAndSet(PARKED, RUNNING)) {
                LockSupport.unpark(w);
                want--;
            }
        }
    }

    /** Stops the workers (for pools made by tests; the shared one lives as long as the JVM). */
    void close() {
        closed = true;
        for (Worker w : workers) {
            LockSupport.unpark(w);
        }
    }

    private final class Worker extends Thread {
        final AtomicInteger state = new AtomicInteger(SPINNING);

        Worker(String name) {
            super(name);
            setDaemon(true);
        }

        @Override
        public void run() {
            Parallel.IN_WORKER.set(true); // kernels called from a chunk run serially on this thread
            Job seen = null;
            long spinUntil = System.nanoTime() + spinNanos;
            while (!closed) {
                Job job = slot.get();
                if (job != seen) {
                    seen = job; // holding it keeps a later job from ever being the same object
                    if (job != null && job.join()) {
                        state.set(RUNNING);
                        job.runUnclaimed();
                        state.set(SPINNING);
                        spinUntil = System.nanoTime() + spinNanos;
                    }
                } else if (System.nanoTime() - spinUntil < 0) {
                    Thread.onSpinWait();
                } else {
                    state.set(PARKED);
                    // a job published after this read finds PARKED and unparks; one before it is seen here
                    while (slot.get() == seen && state.get() == PARKED && !closed) {
                        LockSupport.park(this);
                    }
                    state.set(SPINNING); // spinUntil stays past: without a job to run it parks again at once
                }
            }
        }
    }

    /** One call's chunks: the next to claim, the workers that joined, those finished, the first failure. */
    static final class Job {
        final int count;
        final int chunks;
        final int helpers;
        final Parallel.RangeTask task;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger joined = new AtomicInteger();
        final AtomicInteger finished = new AtomicInteger();
        final AtomicReference<Throwable> failure = new AtomicReference<>();
        volatile Thread waiter;

        Job(int count, int chunks, Parallel.RangeTask task, int helpers) {
            this.count = count;
            this.chunks = chunks;
            this.task = task;
            this.helpers = helpers;
        }

        /** Whether a worker that sees this job should help: chunks are left and it is one of the first helpers. */
        boolean join() {
            return next.get() < chunks && joined.getAndIncrement() < helpers;
        }

        /** Runs chunks until none is left to claim; the same bounds whoever runs them. */
        void runUnclaimed() {
            for (int c; (c = next.getAndIncrement()) < chunks; ) {
                try {
                    task.run((int) ((long) count * c / chunks), (int) ((long) count * (c + 1) / chunks));
                } catch (Throwable t) {
                    failure.compareAndSet(null, t);
                } finally {
                    if (finished.incrementAndGet() == chunks) {
                        Thread w = waiter; // read after the count: a caller that parks set it before reading
                        if (w != null) {
                            LockSupport.unpark(w);
                        }
                    }
                }
            }
        }

        /**
         * Waits for the chunks other threads claimed (every chunk is claimed once the caller's own loop ends, so it
         * never waits for a worker that has not started one): spins up to {@code spinNanos}, then parks. An interrupt
         * does not cut the wait short (the chunks still use the caller's buffers) but is kept for the caller.
         */
        void awaitFinished(long spinNanos) {
            long spinUntil = System.nanoTime() + spinNanos;
            while (finished.get() < chunks) {
                if (System.nanoTime() - spinUntil < 0) {
                    Thread.onSpinWait();
                    continue;
                }
                waiter = Thread.currentThread();
                boolean interrupted = false;
                while (finished.get() < chunks) {
                    LockSupport.park(this);
                    interrupted |= Thread.interrupted(); // else a set status makes park return at once, forever
                }
                if (interrupted) {
                    Thread.currentThread().interrupt();
                }
            }
        }

        void rethrow() {
            Throwable t = failure.get();
            if (t instanceof RuntimeException re) {
                throw re;
            }
            if (t instanceof Error err) {
                throw err;
            }
            if (t != null) {
                throw new IllegalStateException(t);
            }
        }
    }
}
