package fulgur.io;

import java.nio.file.Path;

/**
 * Holds {@link DirectoryLock} on a directory from another process, for {@link DirectoryLockTest}: tries to lock
 * {@code args[0]}, prints "locked" or "refused: MESSAGE", and keeps a lock it got until its stdin closes.
 */
public final class LockHolder {
    public static void main(String[] args) throws Exception {
        DirectoryLock lock;
        try {
            lock = DirectoryLock.acquire(Path.of(args[0]), "holder", note -> System.out.println(note));
        } catch (IllegalStateException e) {
            System.out.println("refused: " + e.getMessage());
            return;
        }
        System.out.println("locked");
        System.out.flush();
        while (System.in.read() >= 0) {
            // hold the lock until the parent closes our stdin (or kills us)
        }
        lock.close();
    }
}
