// Shared helpers of the CUDA backend's kernels (tensor.cu, nn.cu): dtype codes, typed loads and stores,
// strided index arithmetic, block reductions. Included by text (KernelModule inlines #include "..." of
// resources), so it has no include guard of its own beyond the macro below.
#ifndef FULGUR_TENSOR_COMMON
#define FULGUR_TENSOR_COMMON
#include <cuda_bf16.h>
#include <cuda_fp16.h>

// dtype codes: the ordinals of fulgur.tensor.DType
#define DT_F32 0
#define DT_BF16 1
#define DT_F16 2
#define DT_F64 3
#define DT_I32 4
#define DT_I64 5
#define DT_I8 6

#define MAXD 12
#define MAXOPS 3

// Sizes and per-operand element strides of an iteration space (row-major; dimension nd-1 fastest).
// Passed by value (a __grid_constant__ kernel parameter); the Java side writes the same layout.
struct ShapeDesc {
  int nd;
  int pad_;
  long long size[MAXD];
  long long stride[MAXOPS][MAXD];
};

typedef long long i64;
typedef unsigned long long u64;
#define D_INF __longlong_as_double(0x7ff0000000000000LL)
#define F_INF __int_as_float(0x7f800000)

static __device__ __forceinline__ double ld_d(const void* p, int t, i64 i) {
  switch (t) {
    case DT_F32: return (double)((const float*)p)[i];
    case DT_BF16: return (double)__bfloat162float(((const __nv_bfloat16*)p)[i]);
    case DT_F16: return (double)__half2float(((const __half*)p)[i]);
    case DT_F64: return ((const double*)p)[i];
    case DT_I32: return (double)((const int*)p)[i];
    case DT_I8: return (double)((const signed char*)p)[i];
    default: return (double)((const long long*)p)[i];
  }
}

static __device__ __forceinline__ float ld_f(const void* p, int t, i64 i) {
  switch (t) {
    case DT_F32: return ((const float*)p)[i];
    case DT_BF16: return __bfloat162float(((const __nv_bfloat16*)p)[i]);
    case DT_F16: return __half2float(((const __half*)p)[i]);
    case DT_F64: return (float)((const double*)p)[i];
    case DT_I32: return (float)((const int*)p)[i];
    case DT_I8: return (float)((const signed char*)p)[i];
    default: return (float)((const long long*)p)[i];
  }
}

// integer view of an element (integer dtypes exactly; floating ones truncated toward zero)
static __device__ __forceinline__ long long ld_l(const void* p, int t, i64 i) {
  switch (t) {
    case DT_I32: return (long long)((const int*)p)[i];
    case DT_I64: return ((const long long*)p)[i];
    case DT_I8: return (long long)((const signed char*)p)[i];
    default: return (long long)ld_d(p, t, i);
  }
}

// Java's (int)/(long) casts of a double: NaN -> 0, saturating. cvt.rzi does both.
static __device__ __forceinline__ int d2i(double v) { return (int)v; }
static __device__ __forceinline__ long long d2l(double v) { return (long long)v; }

static __device__ __forceinline__ void st_d(void* p, int t, i64 i, double v) {
  switch (t) {
    case DT_F32: ((float*)p)[i] = (float)v; break;
    case DT_BF16: ((__nv_bfloat16*)p)[i] = __double2bfloat16(v); break;
    case DT_F16: ((__half*)p)[i] = __double2half(v); break;
    case DT_F64: ((double*)p)[i] = v; break;
    case DT_I32: ((int*)p)[i] = d2i(v); break;
    case DT_I8: ((signed char*)p)[i] = (signed char)max(-128, min(127, d2i(v))); break;
    default: ((long long*)p)[i] = d2l(v); break;
  }
}

static __device__ __forceinline__ void st_f(void* p, int t, i64 i, float v) {
  switch (t) {
    case DT_F32: ((float*)p)[i] = v; break;
    case DT_BF16: ((__nv_bfloat16*)p)[i] = __float2bfloat16(v); break;
    case DT_F16: ((__half*)p)[i] = __float2half(v); break;
    case DT_F64: ((double*)p)[i] = (double)v; break;
    case DT_I32: ((int*)p)[i] = (int)v; break;
    case DT_I8: ((signed char*)p)[i] = (signed char)max(-128, min(127, (int)v)); break;
    default: ((long long*)p)[i] = (long long)v; break;
  }
}

static __device__ __forceinline__ void st_l(void* p, int t, i64 i, long long v) {
  switch (t) {
    case DT_I32: ((int*)p)[i] = (int)v; break;
    case DT_I64: ((long long*)p)[i] = v; break;
    case DT_I8: ((signed char*)p)[i] = (signed char)max(-128LL, min(127LL, v)); break;
    default: st_d(p, t, i, (double)v); break;
  }
}

// Compute-type dispatch: C = float or double.
template <typename C> static __device__ __forceinline__ C ld_c(const void* p, int t, i64 i);
template <> __device__ __forceinline__ float ld_c<float>(const void* p, int t, i64 i) { return ld_f(p, t, i); }
template <> __device__ __forceinline__ double ld_c<double>(const void* p, int t, i64 i) { return ld_d(p, t, i); }
template <typename C> static __device__ __forceinline__ void st_c(void* p, int t, i64 i, C v);
template <> __device__ __forceinline__ void st_c<float>(void* p, int t, i64 i, float v) { st_f(p, t, i, v); }
template <> __device__ __forceinline__ void st_c<double>(void* p, int t, i64 i, double v) { st_d(p, t, i, v); }

// Element offsets of row-major position `flat` for the first NOPS operands. 32-bit index arithmetic
// when the iteration space fits (SMALL), 64-bit otherwise.
template <int NOPS, bool SMALL>
static __device__ __forceinline__ void offsets(const ShapeDesc& d, i64 flat, i64* off) {
#pragma unroll
  for (int o = 0; o < NOPS; o++) off[o] = 0;
  if (d.nd == 1) {
#pragma unroll
    for (int o = 0; o < NOPS; o++) off[o] = flat * d.stride[o][0];
    return;
  }
  if (SMALL) {
    unsigned f = (unsigned)flat;
#pragma unroll
    for (int i = MAXD - 1; i >= 0; i--) {
      if (i < d.nd) {
        unsigned s = (unsigned)d.size[i];
        unsigned q = f / s;
        unsigned idx = f - q * s;
        f = q;
#pragma unroll
        for (int o = 0; o < NOPS; o++) off[o] += (i64)idx * d.stride[o][i];
      }
    }
  } else {
    i64 f = flat;
#pragma unroll
    for (int i = MAXD - 1; i >= 0; i--) {
      if (i < d.nd) {
        i64 s = d.size[i];
        i64 q = f / s;
        i64 idx = f - q * s;
        f = q;
#pragma unroll
        for (int o = 0; o < NOPS; o++) off[o] += idx * d.stride[o][i];
      }
    }
  }
}

#define GRID_STRIDE(i, n) for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

// NaN-propagating max/min (Java's Math.max/min semantics for NaN).
template <typename C> static __device__ __forceinline__ C nmax(C a, C b) { return (a != a || b != b) ? (a + b) : (a > b ? a : b); }
template <typename C> static __device__ __forceinline__ C nmin(C a, C b) { return (a != a || b != b) ? (a + b) : (a < b ? a : b); }

// Sum over the block (all threads must call; blockDim.x a multiple of 32, <= 1024). Result in every thread.
template <typename T>
static __device__ __forceinline__ T block_sum(T v, T* scratch) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[w] = v;
  __syncthreads();
  T r = 0;
  for (int i = 0; i < nw; i++) r += scratch[i];
  return r;
}

template <typename T>
static __device__ __forceinline__ T block_max(T v, T* scratch) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = nmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) scratch[w] = v;
  __syncthreads();
  T r = scratch[0];
  for (int i = 1; i < nw; i++) r = nmax(r, scratch[i]);
  return r;
}

// Records the smallest failing position (an invalid index) in *err (initialised to a huge value).
static __device__ __forceinline__ void report_bad(long long* err, long long pos) {
  if (err) atomicMin((unsigned long long*)err, (unsigned long long)pos);
}
#endif
