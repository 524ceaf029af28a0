// Small utility kernels: device-side random fill (benchmark inputs larger than host memory wants),
// non-finite counting.
#include <cuda_bf16.h>

static __device__ __forceinline__ unsigned long long mix64(unsigned long long x) {
  x ^= x >> 30; x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27; x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// p[i] = lo + (hi - lo) * u_i, u_i uniform in [0,1) from a hash of (seed, i)
extern "C" __global__ void fill_uniform_bf16(__nv_bfloat16* p, long long n, long long seed, float lo, float hi) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    unsigned long long r = mix64((unsigned long long)seed * 0x9e3779b97f4a7c15ULL + (unsigned long long)i);
    float u = (float)(r >> 40) * (1.0f / 16777216.0f);
    p[i] = __float2bfloat16(lo + (hi - lo) * u);
  }
}

extern "C" __global__ void fill_uniform_f32(float* p, long long n, long long seed, float lo, float hi) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    unsigned long long r = mix64((unsigned long long)seed * 0x9e3779b97f4a7c15ULL + (unsigned long long)i);
    float u = (float)(r >> 40) * (1.0f / 16777216.0f);
    p[i] = lo + (hi - lo) * u;
  }
}

// counts NaN / Inf elements of a bf16 array into *count
extern "C" __global__ void count_nonfinite_bf16(const __nv_bfloat16* p, long long n, unsigned long long* count) {
  unsigned long long local = 0;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    float v = __bfloat162float(p[i]);
    if (!isfinite(v)) local++;
  }
  if (local) atomicAdd(count, local);
}
