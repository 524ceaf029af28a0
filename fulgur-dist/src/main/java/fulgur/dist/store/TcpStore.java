package fulgur.dist.store;

import fulgur.dist.DistException;
import fulgur.dist.DistTimeoutException;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A client of the small key-value store that rank 0 serves ({@link TcpStoreServer}) for rendezvous: keys are
 * strings, values bytes; {@link #get} and {@link #waitFor} block until the keys exist, up to a timeout, and the
 * errors say which keys (ranks) are missing. One connection; the methods are synchronized.
 */
public final class TcpStore implements AutoCloseable {
    static final byte SET = 1, GET = 2, ADD = 3, CHECK = 4, WAIT = 5;
    static final byte OK = 0, TIMEOUT = 1;

    private final String address;
    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final TcpStoreServer server;

    private TcpStore(String address, Socket socket, TcpStoreServer server) throws IOException {
        this.address = address;
        this.socket = socket;
        this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream()));
        this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream()));
        this.server = server;
    }

    /** Starts a server on {@code port} (0: any free port) on all interfaces and connects to it. */
    public static TcpStore serve(int port) {
        TcpStoreServer s = TcpStoreServer.start(port);
        try {
            return new TcpStore("127.0.0.1:" + s.port(), new Socket("127.0.0.1", s.port()), s);
        } catch (IOException e) {
            s.close();
            throw new DistException(
                    "rendezvous store: cannot connect to the store just started on port " + s.port() + ": "
                            + e.getMessage(),
                    e);
        }
    }

    /**
     * Connects to the store at {@code host:port}, retrying until {@code timeout} (rank 0 may start later than the
     * others).
     */
    public static TcpStore connect(String host, int port, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        IOException last = null;
        while (true) {
            try {
                Socket s = new Socket();
                long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
                s.connect(new InetSocketAddress(host, port), (int) Math.min(left, 5000));
                s.setTcpNoDelay(true);
                return new TcpStore(host + ":" + port, s, null);
            } catch (ConnectException | SocketTimeoutException e) {
                last = e;
            } catch (IOException e) {
                last = e;
                if (e instanceof java.net.UnknownHostException) {
                    break;
                }
            }
            if (System.nanoTime() - deadline >= 0) {
                break;
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new DistException("rendezvous store: interrupted while connecting to " + host + ":" + port, e);
            }
        }
        throw new DistTimeoutException("rendezvous store: cannot reach " + host + ":" + port + " within "
                + seconds(timeout) + " (" + (last == null ? "no answer" : last.getMessage())
                + "); is rank 0 running, and do MASTER_ADDR and MASTER_PORT point at it?");
    }

    /** The server's port when this client started it, else the one connected to. */
    public int port() {
        return server != null ? server.port() : socket.getPort();
    }

    public String address() {
        return address;
    }

    public synchronized void set(String key, byte[] value) {
        try {
            out.writeByte(SET);
            out.writeUTF(key);
            out.writeInt(value.length);
            out.write(value);
            out.flush();
            expectOk("set", key);
        } catch (IOException e) {
            throw lost("set '" + key + "'", e);
        }
    }

    public void set(String key, String value) {
        set(key, value.getBytes(StandardCharsets.UTF_8));
    }

    /** The value of {@code key}, waiting up to {@code timeout} for some rank to set it. */
    public synchronized byte[] get(String key, Duration timeout) {
        try {
            out.writeByte(GET);
            out.writeUTF(key);
            out.writeLong(timeout.toMillis());
            out.flush();
            if (in.readByte() == TIMEOUT) {
                throw new DistTimeoutException(
                        "rendezvous store " + address + ": key '" + key + "' was not set within " + seconds(timeout));
            }
            byte[] v = new byte[in.readInt()];
            in.readFully(v);
            return v;
        } catch (IOException e) {
            throw lost("get '" + key + "'", e);
        }
    }

    public String getString(String key, Duration timeout) {
        return new String(get(key, timeout), StandardCharsets.UTF_8);
    }

    /** Adds {@code delta} to the counter {@code key} (0 when absent) and returns the new value. */
    public synchronized long add(String key, long delta) {
        try {
            out.writeByte(ADD);
            out.writeUTF(key);
            out.writeLong(delta);
            out.flush();
            return in.readLong();
        } catch (IOException e) {
            throw lost("add '" + key + "'", e);
        }
    }

    public synchronized boolean check(List<String> keys) {
        try {
            out.writeByte(CHECK);
            writeKeys(keys);
            out.flush();
            return in.readBoolean();
        } catch (IOException e) {
            throw lost("check", e);
        }
    }

    /** Waits until all keys exist; returns those still missing at the timeout (empty when all arrived). */
    public synchronized List<String> waitFor(List<String> keys, Duration timeout) {
        try {
            out.writeByte(WAIT);
            writeKeys(keys);
            out.writeLong(timeout.toMillis());
            out.flush();
            int n = in.readInt();
            List<String> missing = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                missing.add(in.readUTF());
            }
            return missing;
        } catch (IOException e) {
            throw lost("wait", e);
        }
    }

    private void writeKeys(List<String> keys) throws IOException {
        out.writeInt(keys.size());
        for (String k : keys) {
            out.writeUTF(k);
        }
    }

    private void expectOk(String op, String key) throws IOException {
        byte b = in.readByte();
        if (b != OK) {
            throw new DistException(
                    "rendezvous store " + address + ": " + op + " '" + key + "' failed (answer " + b + ")");
        }
    }

    private DistException lost(String what, IOException e) {
        return new DistException(
                "rendezvous store " + address + ": connection lost during " + what + " (" + e.getMessage()
                        + "); did rank 0 exit?",
                e);
    }

    static String seconds(Duration d) {
        long ms = d.toMillis();
        return ms % 1000 == 0 ? ms / 1000 + " s" : ms + " ms";
    }

    /** Closes the connection, and the server when this client started it. */
    @Override
    public synchronized void close() {
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        if (server != null) {
            server.close();
        }
    }
}
