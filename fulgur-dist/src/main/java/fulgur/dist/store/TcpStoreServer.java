package fulgur.dist.store;

import fulgur.dist.DistException;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/** The store's server: one accept thread, one virtual thread per client; values in memory. */
final class TcpStoreServer implements AutoCloseable {
    private final ServerSocket socket;
    private final Map<String, byte[]> data = new HashMap<>();
    private final List<Socket> clients = new ArrayList<>();
    private volatile boolean closed;

    private TcpStoreServer(ServerSocket socket) {
        this.socket = socket;
    }

    static TcpStoreServer start(int port) {
        ServerSocket ss;
        try {
            ss = new ServerSocket(port, 512);
            ss.setReuseAddress(true);
        } catch (IOException e) {
            throw new DistException(
                    "rendezvous store: cannot listen on port " + port + " (" + e.getMessage()
                            + "); is another job using it? Choose another MASTER_PORT.",
                    e);
        }
        TcpStoreServer s = new TcpStoreServer(ss);
        Thread t = new Thread(s::acceptLoop, "fulgur-store-accept");
        t.setDaemon(true);
        t.start();
        return s;
    }

    int port() {
        return socket.getLocalPort();
    }

    private void acceptLoop() {
        while (!closed) {
            try {
                Socket c = socket.accept();
                c.setTcpNoDelay(true);
                synchronized (clients) {
                    clients.add(c);
                }
                Thread.ofVirtual().name("fulgur-store-client").start(() -> serve(c));
            } catch (IOException e) {
                if (!closed) {
                    System.err.println("fulgur store: accept failed: " + e.getMessage());
                }
            }
        }
    }

    private void serve(Socket c) {
        try (c;
                DataInputStream in = new DataInputStream(new BufferedInputStream(c.getInputStream()));
                DataOutputStream out = new DataOutputStream(new BufferedOutputStream(c.getOutputStream()))) {
            while (!closed) {
                byte op;
                try {
                    op = in.readByte();
                } catch (EOFException e) {
                    return;
                }
                switch (op) {
                    case TcpStore.SET -> {
                        String key = in.readUTF();
                        byte[] v = new byte[in.readInt()];
                        in.readFully(v);
                        synchronized (data) {
                            data.put(key, v);
                            data.notifyAll();
                        }
                        out.writeByte(TcpStore.OK);
                    }
                    case TcpStore.GET -> {
                        String key = in.readUTF();
                        long timeout = in.readLong();
                        byte[] v = awaitKey(key, timeout);
                        if (v == null) {
                            out.writeByte(TcpStore.TIMEOUT);
                        } else {
                            out.writeByte(TcpStore.OK);
                            out.writeInt(v.length);
                            out.write(v);
                        }
                    }
                    case TcpStore.ADD -> {
                        String key = in.readUTF();
                        long delta = in.readLong();
                        long next;
                        synchronized (data) {
                            byte[] cur = data.get(key);
                            next = (cur == null ? 0 : Long.parseLong(new String(cur))) + delta;
                            data.put(key, Long.toString(next).getBytes());
                            data.notifyAll();
                        }
                        out.writeLong(next);
                    }
                    case TcpStore.CHECK -> {
                        List<String> keys = readKeys(in);
                        boolean all;
                        synchronized (data) {
                            all = data.keySet().containsAll(keys);
                        }
                        out.writeBoolean(all);
                    }
                    case TcpStore.WAIT -> {
                        List<String> keys = readKeys(in);
                        long timeout = in.readLong();
                        List<String> missing = awaitKeys(keys, timeout);
                        out.writeInt(missing.size());
                        for (String k : missing) {
                            out.writeUTF(k);
                        }
                    }
                    default -> {
                        return; // a client that does not speak the protocol: drop it
                    }
                }
                out.flush();
            }
        } catch (IOException | InterruptedException e) {
            // the client went away; nothing to clean up but the socket
        }
    }

    private static List<String> readKeys(DataInputStream in) throws IOException {
        int n = in.readInt();
        List<String> keys = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            keys.add(in.readUTF());
        }
        return keys;
    }

    private byte[] awaitKey(String key, long timeoutMs) throws InterruptedException {
        List<String> missing = awaitKeys(List.of(key), timeoutMs);
        if (!missing.isEmpty()) {
            return null;
        }
        synchronized (data) {
            return data.get(key);
        }
    }

    private List<String> awaitKeys(List<String> keys, long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        synchronized (data) {
            while (true) {
                List<String> missing = new ArrayList<>();
                for (String k : keys) {
                    if (!data.containsKey(k)) {
                        missing.add(k);
                    }
                }
                long left = deadline - System.currentTimeMillis();
                if (missing.isEmpty() || left <= 0 || closed) {
                    return missing;
                }
                data.wait(left);
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        try {
            socket.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        synchronized (clients) {
            for (Socket c : clients) {
                try {
                    c.close();
                } catch (IOException ignored) {
                    // closing anyway
                }
            }
        }
        synchronized (data) {
            data.notifyAll();
        }
    }
}
