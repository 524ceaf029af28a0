package fulgur.backend;

/**
 * A span in which a backend's checks of device values are collected instead of read one by one; {@link #close()}
 * waits for the device and throws the first failure (see {@link DeviceRuntime#deferChecks()}).
 */
public interface DeferredChecks extends AutoCloseable {

    /** Checks nothing (backends that check at once). */
    DeferredChecks NONE = () -> {};

    @Override
    void close();
}
