package fulgur.backend.cpu;

import fulgur.backend.DeferredChecks;
import fulgur.backend.DeviceRuntime;
import fulgur.backend.DeviceStream;
import fulgur.backend.StepGraph;
import fulgur.tensor.Device;
import fulgur.tensor.HostAllocator;
import fulgur.tensor.Tensor;

/** The CPU's runtime: the host allocator's statistics; checks happen at once; no graph capture, no streams. */
public final class CpuRuntime implements DeviceRuntime {
    public static final CpuRuntime INSTANCE = new CpuRuntime();

    private CpuRuntime() {}

    @Override
    public Device device() {
        return Device.CPU;
    }

    @Override
    public long peakMemoryBytes() {
        return HostAllocator.peakBytesInUse();
    }

    @Override
    public void resetPeakMemory() {
        HostAllocator.resetPeak();
    }

    @Override
    public DeferredChecks deferChecks() {
        return DeferredChecks.NONE;
    }

    @Override
    public StepGraph capture(Runnable body) {
        throw new UnsupportedOperationException(
                "the cpu device cannot capture a step as a graph; CUDA graphs need a cuda device");
    }

    @Override
    public java.util.List<KernelTime> profile(Runnable body) {
        body.run();
        return java.util.List.of();
    }

    @Override
    public void synchronize() {}

    @Override
    public void makeCurrent() {}

    @Override
    public DeviceStream computeStream() {
        throw noStreams();
    }

    @Override
    public DeviceStream newStream() {
        throw noStreams();
    }

    @Override
    public DeviceStream.Memory allocate(long bytes, DeviceStream stream) {
        throw noStreams();
    }

    @Override
    public long address(Tensor t) {
        throw noStreams();
    }

    private static UnsupportedOperationException noStreams() {
        return new UnsupportedOperationException(
                "the cpu device has no streams or device memory; this needs a cuda device");
    }
}
