package fulgur.io;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Exclusive ownership of an output directory by one writer: {@code DIR/.fulgur.lock} holds the owner's pid, host,
 * start time and command, and is locked with an operating-system file lock for as long as the owner runs. A second
 * writer — another process, or another run in this one — is refused with a message naming the owner. The system
 * releases a file lock when its process dies however it dies, so a lock file still naming an owner that is gone
 * (killed, crashed) is taken over, with a note. Where the file system has no locks, the pid alone decides (on the
 * same host). Closing empties the file and releases the lock.
 *
 * <p>The file is never deleted: a process that opened it could otherwise lock a file no longer at the path while a
 * third one creates and locks a new one. Within one JVM a registry refuses a second lock without touching the file,
 * because closing any descriptor of a file drops all of the process's POSIX locks on it.
 */
public final class DirectoryLock implements AutoCloseable {

    /** The lock file's name inside the locked directory. */
    public static final String FILE = ".fulgur.lock";

    /** The lock files this JVM holds, by real path. */
    private static final java.util.Set<Path> HELD = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private final Path dir;
    private final Path file;
    private final FileChannel channel;
    private final FileLock lock;
    private final boolean borrowed;
    private boolean closed;

    private DirectoryLock(Path dir, Path file, FileChannel channel, FileLock lock, boolean borrowed) {
        this.dir = dir;
        this.file = file;
        this.channel = channel;
        this.lock = lock;
        this.borrowed = borrowed;
    }

    /**
     * Locks {@code dir} (created if missing) for this process, or throws {@link IllegalStateException} naming the
     * process that holds it. {@code command} is recorded for that message; {@code notes} receives one line when a
     * stale lock is taken over.
     *
     * @param dir the directory to lock
     * @param command the command taking it, for others' messages
     * @param notes receives a line when a stale lock is taken over
     * @return the lock, to close
     * @throws java.io.IOException when the lock file cannot be written
     * @throws IllegalStateException when another live process holds the lock
     * @throws IllegalArgumentException when {@code dir} is a file
     */
    public static DirectoryLock acquire(Path dir, String command, Consumer<String> notes) throws IOException {
        Path abs = dir.toAbsolutePath().normalize();
        if (Files.exists(abs) && !Files.isDirectory(abs)) {
            throw new IllegalArgumentException(dir + " is a file, expected a directory to write into");
        }
        Files.createDirectories(abs);
        Path file = abs.toRealPath().resolve(FILE);
        if (!HELD.add(file)) {
            throw inUse(dir, null, "another run in this process");
        }
        FileChannel ch = null;
        boolean locked = false;
        try {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock fl;
            boolean osLocks = true;
            try {
                fl = ch.tryLock();
            } catch (IOException e) {
                fl = null; // no file locks on this file system: the pid decides
                osLocks = false;
            }
            Map<String, Object> previous = read(ch);
            if (osLocks && fl == null || !osLocks && previous != null && alive(previous)) {
                throw inUse(dir, previous, null);
            }
            if (previous != null) {
                notes.accept("note: " + dir + " was locked by " + describe(previous)
                        + ", which is no longer running; taking the lock over");
            }
            write(ch, owner(command));
            locked = true;
            return new DirectoryLock(abs, file, ch, fl, false);
        } finally {
            if (!locked) {
                HELD.remove(file);
                if (ch != null) {
                    ch.close();
                }
            }
        }
    }

    /**
     * This lock as handed to code that writes into {@code dir} on its holder's behalf: checks that it covers
     * {@code dir}; closing the returned view releases nothing.
     *
     * @param dir a directory this lock covers
     * @return a view of this lock that releases nothing
     * @throws IllegalArgumentException when the lock does not cover {@code dir}
     * @throws IllegalStateException when the lock was released
     */
    public DirectoryLock borrow(Path dir) {
        if (!this.dir.equals(dir.toAbsolutePath().normalize())) {
            throw new IllegalArgumentException("the lock held on " + this.dir + " does not cover " + dir);
        }
        if (closed) {
            throw new IllegalStateException("the lock on " + this.dir + " was released");
        }
        return new DirectoryLock(this.dir, file, channel, lock, true);
    }

    /**
     * The locked directory (absolute).
     *
     * @return the directory
     */
    public Path directory() {
        return dir;
    }

    @Override
    public void close() throws IOException {
        if (closed || borrowed) {
            closed = true;
            return;
        }
        closed = true;
        try {
            channel.truncate(0); // a clean release: the next owner finds nothing to take over
            channel.force(true);
        } finally {
            try {
                if (lock != null && lock.isValid()) {
                    lock.release();
                }
            } finally {
                channel.close();
                HELD.remove(file);
            }
        }
    }

    private static IllegalStateException inUse(Path dir, Map<String, Object> owner, String who) {
        String by = who != null ? who : owner != null && !owner.isEmpty() ? describe(owner) : "another process";
        return new IllegalStateException(
                dir + " is in use by " + by + " (lock file " + dir.resolve(FILE)
                        + "); two runs writing one directory would overwrite each other's checkpoints and metrics: wait for it to finish, stop it, or choose another output directory");
    }

    private static String describe(Map<String, Object> owner) {
        StringBuilder sb = new StringBuilder("pid ").append(owner.getOrDefault("pid", "?"));
        if (owner.get("host") != null && !owner.get("host").equals(host())) {
            sb.append(" on ").append(owner.get("host"));
        }
        if (owner.get("command") != null) {
            sb.append(" (fulgur ").append(owner.get("command")).append(')');
        }
        if (owner.get("started") != null) {
            sb.append(", since ").append(owner.get("started"));
        }
        return sb.toString();
    }

    private static Map<String, Object> owner(String command) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("pid", ProcessHandle.current().pid());
        m.put("host", host());
        m.put("command", command);
        m.put("started", Instant.now().toString());
        return m;
    }

    /** Whether the owner recorded in a lock file still runs (only decidable on this host; elsewhere assumed so). */
    private static boolean alive(Map<String, Object> owner) {
        if (!(owner.get("pid") instanceof Number pid)) {
            return false;
        }
        if (owner.get("host") != null && !owner.get("host").equals(host())) {
            return true;
        }
        return ProcessHandle.of(pid.longValue()).map(ProcessHandle::isAlive).orElse(false);
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "localhost";
        }
    }

    /** The lock file's content as read through {@code ch}: null when empty or unreadable (a crash mid-write). */
    private static Map<String, Object> read(FileChannel ch) throws IOException {
        long size = ch.size();
        if (size == 0 || size > 1 << 16) {
            return null;
        }
        ByteBuffer b = ByteBuffer.allocate((int) size);
        while (b.hasRemaining() && ch.read(b, b.position()) >= 0) {
            // fill
        }
        try {
            JsonNode n = Json.mapper().readTree(new String(b.array(), 0, b.position(), StandardCharsets.UTF_8));
            if (n == null || !n.isObject()) {
                return null;
            }
            @SuppressWarnings("unchecked")
            Map<String, Object> m = Json.mapper().convertValue(n, Map.class);
            return m;
        } catch (IOException e) {
            return null;
        }
    }

    private static void write(FileChannel ch, Map<String, Object> owner) throws IOException {
        byte[] bytes = (Json.toJson(owner) + "\n").getBytes(StandardCharsets.UTF_8);
        ch.truncate(0);
        ByteBuffer b = ByteBuffer.wrap(bytes);
        long pos = 0;
        while (b.hasRemaining()) {
            pos += ch.write(b, pos);
        }
        ch.force(true);
    }
}
