// Lightning attention's recurrence for decoding, the state updated in place:
//
//   S_t = lam_h S_{t-1} + k_t^T v_t        o_t = scale * q_t S_t        (lam_h = exp(-slope_h))
//
// Decoding is bound by the state's bytes (a TNL-385M sequence holds 12 MiB of f32 state), so each state element is
// read once and written once per call, whatever the number of tokens (up to TC per pass; longer inputs take
// several passes). No other data of size comparable to the state is touched.
//
// Layout: q, k [N, T, H, DK], v, o [N, T, H, DV], contiguous, one dtype (f32 or bf16); state [N, H, DK, DV] f32,
// 16-byte aligned, DV % 4 == 0. Grid (ceil(DV / (4 * blockDim.x)), H, N); block (bx, by) with bx * by = 256:
// thread (tx, ty) owns the 4 columns 4 * (tile * bx + tx) .. + 3 and the rows ty, ty + by, ... of the state, so a
// warp reads 32 consecutive float4 of one row. Partial outputs are summed over ty through shared memory.

#include <cuda_bf16.h>

#define LD_THREADS 256
#define LD_MAXT 4

static __device__ __forceinline__ float ld_get(const float* p, long long i) { return p[i]; }
static __device__ __forceinline__ float ld_get(const __nv_bfloat16* p, long long i) { return __bfloat162float(p[i]); }

static __device__ __forceinline__ float4 ld_get4(const float* p, long long i) { return *reinterpret_cast<const float4*>(p + i); }
static __device__ __forceinline__ float4 ld_get4(const __nv_bfloat16* p, long long i) {
  uint2 x = *reinterpret_cast<const uint2*>(p + i);
  float2 a = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&x.x));
  float2 b = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&x.y));
  return make_float4(a.x, a.y, b.x, b.y);
}
static __device__ __forceinline__ void ld_put4(float* p, long long i, float4 v) { *reinterpret_cast<float4*>(p + i) = v; }
static __device__ __forceinline__ void ld_put4(__nv_bfloat16* p, long long i, float4 v) {
  __nv_bfloat162 a = __floats2bfloat162_rn(v.x, v.y);
  __nv_bfloat162 b = __floats2bfloat162_rn(v.z, v.w);
  uint2 x;
  x.x = *reinterpret_cast<unsigned*>(&a);
  x.y = *reinterpret_cast<unsigned*>(&b);
  *reinterpret_cast<uint2*>(p + i) = x;
}

// One pass over the state for tokens [t0, t0 + TC') of every (n, h), TC' = min(TC, T - t0).
template <typename X, int TC>
static __device__ void ld_pass(const X* __restrict__ q, const X* __restrict__ k, const X* __restrict__ v, X* __restrict__ o,
    float* __restrict__ state, const float* __restrict__ slopes, int T, int H, int DK, int DV, float scale, int t0, float* smem) {
  const int bx = blockDim.x, by = blockDim.y, tx = threadIdx.x, ty = threadIdx.y;
  const int tid = ty * bx + tx;
  const int h = blockIdx.y, n = blockIdx.z;
  const int c4 = blockIdx.x * bx + tx;            // this thread's column quad
  const bool active = 4 * c4 < DV;
  const int tc = min(TC, T - t0);
  float* qs = smem;                                // [TC][DK]
  float* ks = qs + TC * DK;                        // [TC][DK]
  float4* red = reinterpret_cast<float4*>(ks + TC * DK);  // [by][TC][bx]
  for (int i = tid; i < tc * DK; i += bx * by) {
    int t = i / DK, d = i - t * DK;
    long long row = (((long long)n * T + t0 + t) * H + h) * DK + d;
    qs[t * DK + d] = ld_get(q, row);
    ks[t * DK + d] = ld_get(k, row);
  }
  float4 vv[TC];
  float4 acc[TC];
#pragma unroll
  for (int t = 0; t < TC; t++) {
    acc[t] = make_float4(0.f, 0.f, 0.f, 0.f);
    vv[t] = make_float4(0.f, 0.f, 0.f, 0.f);
    if (t < tc && active) vv[t] = ld_get4(v, (((long long)n * T + t0 + t) * H + h) * DV + 4 * c4);
  }
  __syncthreads();
  const float lam = expf(-slopes[h]);
  if (active) {
    float* s = state + ((long long)n * H + h) * (long long)DK * DV + 4 * c4;
#pragma unroll 4
    for (int d = ty; d < DK; d += by) {
      float4 x = *reinterpret_cast<const float4*>(s + (long long)d * DV);
#pragma unroll
      for (int t = 0; t < TC; t++) {
        if (t < tc) {
          float kd = ks[t * DK + d], qd = qs[t * DK + d];
          x.x = fmaf(kd, vv[t].x, lam * x.x);
          x.y = fmaf(kd, vv[t].y, lam * x.y);
          x.z = fmaf(kd, vv[t].z, lam * x.z);
          x.w = fmaf(kd, vv[t].w, lam * x.w);
          acc[t].x = fmaf(qd, x.x, acc[t].x);
          acc[t].y = fmaf(qd, x.y, acc[t].y);
          acc[t].z = fmaf(qd, x.z, acc[t].z);
          acc[t].w = fmaf(qd, x.w, acc[t].w);
        }
      }
      *reinterpret_cast<float4*>(s + (long long)d * DV) = x;
    }
  }
#pragma unroll
  for (int t = 0; t < TC; t++) red[(ty * TC + t) * bx + tx] = acc[t];
  __syncthreads();
  // thread (tx, ty) with ty < tc sums token ty's partial outputs of its column quad
  if (ty < tc && active) {
    float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
    for (int y = 0; y < by; y++) {
      float4 p = red[(y * TC + ty) * bx + tx];
      sum.x += p.x; sum.y += p.y; sum.z += p.z; sum.w += p.w;
    }
    sum.x *= scale; sum.y *= scale; sum.z *= scale; sum.w *= scale;
    ld_put4(o, (((long long)n * T + t0 + ty) * H + h) * DV + 4 * c4, sum);
  }
  __syncthreads();  // shared memory is reused by the next pass
}

template <typename X, int TC>
static __device__ void ld_step(const X* q, const X* k, const X* v, X* o, float* state, const float* slopes, int T, int H, int DK, int DV,
    float scale) {
  extern __shared__ float smem[];
  for (int t0 = 0; t0 < T; t0 += TC) ld_pass<X, TC>(q, k, v, o, state, slopes, T, H, DK, DV, scale, t0, smem);
}

// One token per row (the decode step): the lean instance.
extern "C" __global__ void __launch_bounds__(LD_THREADS) ld_step1_f32(const float* q, const float* k, const float* v, float* o, float* state,
    const float* slopes, int T, int H, int DK, int DV, float scale) {
  ld_step<float, 1>(q, k, v, o, state, slopes, T, H, DK, DV, scale);
}
extern "C" __global__ void __launch_bounds__(LD_THREADS) ld_step1_bf16(const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
    __nv_bfloat16* o, float* state, const float* slopes, int T, int H, int DK, int DV, float scale) {
  ld_step<__nv_bfloat16, 1>(q, k, v, o, state, slopes, T, H, DK, DV, scale);
}
// Several tokens per row: up to LD_MAXT per pass over the state.
extern "C" __global__ void __launch_bounds__(LD_THREADS) ld_stepn_f32(const float* q, const float* k, const float* v, float* o, float* state,
    const float* slopes, int T, int H, int DK, int DV, float scale) {
  ld_step<float, LD_MAXT>(q, k, v, o, state, slopes, T, H, DK, DV, scale);
}
extern "C" __global__ void __launch_bounds__(LD_THREADS) ld_stepn_bf16(const __nv_bfloat16* q, const __nv_bfloat16* k, const __nv_bfloat16* v,
    __nv_bfloat16* o, float* state, const float* slopes, int T, int H, int DK, int DV, float scale) {
  ld_step<__nv_bfloat16, LD_MAXT>(q, k, v, o, state, slopes, T, H, DK, DV, scale);
}
