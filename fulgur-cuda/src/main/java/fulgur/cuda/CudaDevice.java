package fulgur.cuda;

import fulgur.cuda.driver.CudaDriver;

/**
 * A device's identity and the properties kernels are sized by.
 *
 * @param ordinal the CUDA ordinal
 * @param handle the driver's device handle
 * @param name the product name
 * @param ccMajor the compute capability's major version
 * @param ccMinor its minor version
 * @param multiprocessors the SMs
 * @param l2Bytes the L2 cache's size
 * @param maxSharedPerBlockOptin the most shared memory a block may opt in to, in bytes
 * @param totalMemory the device memory, in bytes
 */
public record CudaDevice(
        int ordinal,
        int handle,
        String name,
        int ccMajor,
        int ccMinor,
        int multiprocessors,
        long l2Bytes,
        int maxSharedPerBlockOptin,
        long totalMemory) {

    static CudaDevice query(CudaDriver d, int ordinal) {
        int h = d.device(ordinal);
        return new CudaDevice(
                ordinal,
                h,
                d.deviceName(h),
                d.deviceAttribute(CudaDriver.ATTR_COMPUTE_CAPABILITY_MAJOR, h),
                d.deviceAttribute(CudaDriver.ATTR_COMPUTE_CAPABILITY_MINOR, h),
                d.deviceAttribute(CudaDriver.ATTR_MULTIPROCESSOR_COUNT, h),
                d.deviceAttribute(CudaDriver.ATTR_L2_CACHE_SIZE, h),
                d.deviceAttribute(CudaDriver.ATTR_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, h),
                d.deviceTotalMem(h));
    }

    /**
     * The NVRTC target for this device: {@code sm_90a} on Hopper (arch-specific features), else {@code sm_XY}.
     *
     * @return e.g. {@code "sm_90a"}
     */
    public String arch() {
        String base = "sm_" + ccMajor + ccMinor;
        return (ccMajor == 9 && ccMinor == 0) ? base + "a" : base;
    }

    @Override
    public String toString() {
        return String.format(
                "%s (cc %d.%d, %d SMs, %d MB L2, %.1f GiB)",
                name, ccMajor, ccMinor, multiprocessors, l2Bytes >> 20, totalMemory / (double) (1L << 30));
    }
}
