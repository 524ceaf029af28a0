package fulgur.backend.cpu;

import fulgur.backend.DeferredChecks;
import fulgur.backend.DeviceRuntime;
import fulgur.backend.StepGraph;
import fulgur.tensor.Device;
import fulgur.tensor.HostAllocator;

/** The CPU's runtime: the host allocator's statistics; checks happen at once; no graph capture. */
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
        throw new UnsupportedOperationException("the cpu device cannot capture a step as a graph; CUDA graphs need a cuda device");
    }

    @Override
    public void synchronize() {}
}
