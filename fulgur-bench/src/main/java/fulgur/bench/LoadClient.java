package fulgur.bench;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * The load benchmark's HTTP/1.1 client: one keep-alive connection, blocking reads on the caller's (virtual) thread,
 * a POST with a JSON body, and the response body handed over line by line as it arrives (server-sent events), with
 * chunked or sized bodies. It does what the benchmark needs and no more, so that the clients, which share the machine
 * with the server, spend little of it: java.net.http's scheduler and futures cost about as much CPU per streamed
 * event as the server spends producing it.
 */
final class LoadClient implements AutoCloseable {
    private final InetSocketAddress address;
    private final String host;
    private Socket socket;
    private InputStream in;
    private OutputStream out;
    /** Bytes read from the connection and not consumed yet: buf[pos, lim). */
    private final byte[] buf = new byte[16384];

    private int pos;
    private int lim;
    /** Whether the current exchange has read a byte of its response (it must not be sent again). */
    private boolean answered;

    LoadClient(URI base) {
        this.address = new InetSocketAddress(base.getHost(), base.getPort());
        this.host = base.getHost() + ":" + base.getPort();
    }

    /**
     * POSTs {@code body} to {@code path} and reads the whole response, passing each line of its body (without the line
     * end) to {@code onLine} as it arrives; returns the status. Throws when the server does not answer within
     * {@code timeoutMillis} of silence, closes the connection, or sends something that is not HTTP/1.1.
     */
    int post(String path, byte[] body, int timeoutMillis, Consumer<String> onLine) throws IOException {
        boolean reused = socket != null;
        try {
            return exchange(path, body, timeoutMillis, onLine);
        } catch (IOException e) {
            close();
            if (!reused || answered || e instanceof java.net.SocketTimeoutException) {
                throw e;
            }
            // a kept-alive connection the server closed meanwhile: once more on a new one
            return exchange(path, body, timeoutMillis, onLine);
        }
    }

    private int exchange(String path, byte[] body, int timeoutMillis, Consumer<String> onLine) throws IOException {
        if (socket == null) {
            socket = new Socket();
            socket.setTcpNoDelay(true);
            socket.connect(address, timeoutMillis);
            in = socket.getInputStream();
            out = socket.getOutputStream();
            pos = 0;
            lim = 0;
        }
        answered = false;
        socket.setSoTimeout(Math.max(1, timeoutMillis));
        String head = "POST " + path + " HTTP/1.1\r\nHost: " + host
                + "\r\nContent-Type: application/json\r\nContent-Length: " + body.length + "\r\n\r\n";
        byte[] h = head.getBytes(StandardCharsets.US_ASCII);
        byte[] req = new byte[h.length + body.length];
        System.arraycopy(h, 0, req, 0, h.length);
        System.arraycopy(body, 0, req, h.length, body.length);
        out.write(req);
        out.flush();

        String status = readLine();
        if (!status.startsWith("HTTP/1.1 ") || status.length() < 12) {
            throw new IOException("not an HTTP/1.1 status line: " + status);
        }
        int code = Integer.parseInt(status.substring(9, 12));
        long length = -1;
        boolean chunked = false;
        boolean close = false;
        for (String line; !(line = readLine()).isEmpty(); ) {
            int colon = line.indexOf(':');
            if (colon < 0) {
                throw new IOException("malformed header: " + line);
            }
            String name = line.substring(0, colon).trim().toLowerCase(Locale.ROOT);
            String value = line.substring(colon + 1).trim();
            switch (name) {
                case "content-length" -> length = Long.parseLong(value);
                case "transfer-encoding" ->
                    chunked = value.toLowerCase(Locale.ROOT).contains("chunked");
                case "connection" -> close = value.equalsIgnoreCase("close");
                default -> {}
            }
        }
        Lines lines = new Lines(onLine);
        if (chunked) {
            for (long size; (size = chunkSize()) > 0; ) {
                copy(size, lines);
                if (!readLine().isEmpty()) {
                    throw new IOException("a chunk does not end with CRLF");
                }
            }
            while (!readLine().isEmpty()) {
                // trailers
            }
        } else if (length >= 0) {
            copy(length, lines);
        } else {
            do {
                lines.accept(buf, pos, lim - pos);
                pos = lim;
            } while (fill());
            close = true;
        }
        lines.finish();
        if (close) {
            close();
        }
        return code;
    }

    private long chunkSize() throws IOException {
        String line = readLine();
        int semi = line.indexOf(';');
        try {
            return Long.parseLong((semi >= 0 ? line.substring(0, semi) : line).trim(), 16);
        } catch (NumberFormatException e) {
            throw new IOException("malformed chunk size: " + line);
        }
    }

    private void copy(long n, Lines lines) throws IOException {
        while (n > 0) {
            if (pos == lim && !fill()) {
                throw new EOFException("the connection closed inside a response body");
            }
            int k = (int) Math.min(n, lim - pos);
            lines.accept(buf, pos, k);
            pos += k;
            n -= k;
        }
    }

    /** One CRLF- (or LF-) terminated header or chunk line, ASCII. */
    private String readLine() throws IOException {
        StringBuilder sb = new StringBuilder();
        while (true) {
            if (pos == lim && !fill()) {
                throw new EOFException("the connection closed inside a response head");
            }
            byte b = buf[pos++];
            if (b == '\n') {
                return sb.toString();
            }
            if (b != '\r') {
                sb.append((char) (b & 0xFF));
            }
        }
    }

    /** Reads more of the connection into buf[0, lim) once all before is consumed; false at its end. */
    private boolean fill() throws IOException {
        int n = in.read(buf, 0, buf.length);
        if (n < 0) {
            return false;
        }
        answered = true;
        pos = 0;
        lim = n;
        return true;
    }

    @Override
    public void close() {
        if (socket != null) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // closing a connection that may already be broken
            }
            socket = null;
        }
    }

    /** Splits body bytes into UTF-8 lines (LF or CRLF ended) and hands each complete one over. */
    private static final class Lines {
        private final Consumer<String> onLine;
        private final ByteArrayOutputStream line = new ByteArrayOutputStream(256);

        Lines(Consumer<String> onLine) {
            this.onLine = onLine;
        }

        void accept(byte[] b, int off, int len) {
            int start = off;
            for (int i = off; i < off + len; i++) {
                if (b[i] == '\n') {
                    line.write(b, start, i - start);
                    emit();
                    start = i + 1;
                }
            }
            line.write(b, start, off + len - start);
        }

        void finish() {
            if (line.size() > 0) {
                emit();
            }
        }

        private void emit() {
            byte[] bytes = line.toByteArray();
            int n = bytes.length > 0 && bytes[bytes.length - 1] == '\r' ? bytes.length - 1 : bytes.length;
            line.reset();
            onLine.accept(new String(bytes, 0, n, StandardCharsets.UTF_8));
        }
    }
}
