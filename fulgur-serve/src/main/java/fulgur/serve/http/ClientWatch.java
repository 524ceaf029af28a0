package fulgur.serve.http;

import java.io.IOException;
import java.util.concurrent.locks.ReentrantLock;
import org.eclipse.jetty.http.HttpVersion;
import org.eclipse.jetty.io.AbstractEndPoint;
import org.eclipse.jetty.io.EndPoint;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.util.BufferUtil;
import org.eclipse.jetty.util.Callback;

/**
 * Notices at once that a client closed its connection while its answer is being generated. Jetty reads an HTTP/1.1
 * connection only while a request body is expected, so a client that goes away during a long generation would be
 * noticed only at the next write (or never, before a non-streaming answer). Once the request body has been read, this
 * watch asks the connection's end point to report readability: the client closing makes it readable at end of stream.
 * The watch is withdrawn before the response completes, so Jetty finds no read pending and keeps the connection.
 *
 * <p>A client that sends more bytes before its answer (pipelining after a POST, which HTTP/1.1 clients should not
 * do) has its connection closed after the answer, so the bytes read here are not silently taken from a request. A
 * client that shuts down its sending side after the request is taken for gone, as other servers of this API take it.
 */
final class ClientWatch implements Callback {
    private static final ClientWatch NONE = new ClientWatch(null, () -> {});

    private final EndPoint endPoint;
    private final Runnable onGone;
    private final ReentrantLock lock = new ReentrantLock();
    private boolean stopped;
    private boolean armed;
    private volatile boolean gone;
    private volatile boolean readAhead;

    private ClientWatch(EndPoint endPoint, Runnable onGone) {
        this.endPoint = endPoint;
        this.onGone = onGone;
    }

    /** Starts watching (after the request body has been read); {@code onGone} runs once if the client leaves. */
    static ClientWatch start(Request request, Runnable onGone) {
        HttpVersion v = request.getConnectionMetaData().getHttpVersion();
        EndPoint ep = request.getConnectionMetaData().getConnection().getEndPoint();
        if ((v != HttpVersion.HTTP_1_1 && v != HttpVersion.HTTP_1_0) || !(ep instanceof AbstractEndPoint)) {
            return NONE;
        }
        ClientWatch w = new ClientWatch(ep, onGone);
        w.arm();
        return w;
    }

    private void arm() {
        lock.lock();
        try {
            if (!stopped) {
                armed = endPoint.tryFillInterested(this);
            }
        } finally {
            lock.unlock();
        }
    }

    boolean isGone() {
        return gone;
    }

    /** Whether the client sent bytes after its request: its connection must close after the answer. */
    boolean readAhead() {
        return readAhead;
    }

    @Override
    public void succeeded() {
        int n;
        lock.lock();
        try {
            armed = false;
            if (stopped) {
                return;
            }
            try {
                n = endPoint.fill(BufferUtil.allocate(1)); // Jetty buffers are filled from limit to capacity
            } catch (IOException e) {
                n = -1;
            }
            if (n > 0) {
                readAhead = true;
                return;
            }
        } finally {
            lock.unlock();
        }
        if (n < 0) {
            gone = true;
            onGone.run();
        } else {
            arm();
        }
    }

    @Override
    public void failed(Throwable x) {
        // withdrawn by stop(), or the connection failed: in the latter case the next write reports it
        lock.lock();
        try {
            armed = false;
        } finally {
            lock.unlock();
        }
    }

    /** Withdraws the watch; after this returns, the watch no longer touches the connection. */
    void stop() {
        if (endPoint == null) {
            return;
        }
        lock.lock();
        try {
            if (stopped) {
                return;
            }
            stopped = true;
            if (armed) {
                armed = false;
                ((AbstractEndPoint) endPoint).getFillInterest().onFail(new Withdrawn());
            }
        } finally {
            lock.unlock();
        }
    }

    /** The failure a withdrawn read interest is completed with, once per request: no stack trace to fill in. */
    private static final class Withdrawn extends IOException {
        Withdrawn() {
            super("watch withdrawn");
        }

        @Override
        public synchronized Throwable fillInStackTrace() {
            return this;
        }
    }
}
