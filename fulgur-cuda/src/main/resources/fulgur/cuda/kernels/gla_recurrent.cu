// Gated linear attention token by token in f32 (CUDA cores): decoding (a state advanced in place), f32
// inputs, and head dims the tensor-core kernels of gla.cu do not take (K up to 256, any V).
//
//   S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t,   o_t = scale * q_t S_t
//
// One CTA per (32 value columns, head, sequence); thread (warp w, lane) holds S[c][e0 + lane] for the
// channels c = w, w + 8, ... Tokens are staged TB at a time in shared memory. Layout: tokens packed
// [NTOK, H, D] (q, k, g: D = K; v, o: D = V), inputs f32 or bf16 (inF32, gF32), states [N, H, K, V] f32.
// seqTab[4n..] = (first token, end token, ...).
#include <cuda_bf16.h>

#define TB 8
#define NW 8
#define RMAX 32   // K <= 8 * RMAX = 256
#define KMAX 256

static __device__ __forceinline__ float ldx(const void* p, int f32, long long i) {
  return f32 ? reinterpret_cast<const float*>(p)[i] : __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(p)[i]);
}
static __device__ __forceinline__ void stx(void* p, int f32, long long i, float v) {
  if (f32) reinterpret_cast<float*>(p)[i] = v;
  else reinterpret_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(v);
}

// stages tokens [t0, t0 + nt) of head h: a = scale * A rows, b = B rows, d = exp(g) rows (K wide), x = X
// columns e0.. (32 wide); positions past nt get zeros (d: ones)
static __device__ __forceinline__ void stage(float (*sa)[KMAX], float (*sb)[KMAX], float (*sd)[KMAX], float (*sx)[32],
    const void* A, const void* B, const void* G, const void* X, int inF32, int gF32, float scale, int t0, int nt,
    int h, int H, int K, int V, int e0, int tid) {
  for (int idx = tid; idx < TB * K; idx += NW * 32) {
    const int t = idx / K, c = idx - t * K;
    const bool ok = t < nt;
    const long long i = ((long long)(t0 + t) * H + h) * K + c;
    if (sa) sa[t][c] = ok ? scale * ldx(A, inF32, i) : 0.f;
    if (sb) sb[t][c] = ok ? ldx(B, inF32, i) : 0.f;
    sd[t][c] = ok ? expf(ldx(G, gF32, i)) : 1.f;
  }
  for (int idx = tid; idx < TB * 32; idx += NW * 32) {
    const int t = idx >> 5, l = idx & 31, e = e0 + l;
    sx[t][l] = (t < nt && e < V) ? ldx(X, inF32, ((long long)(t0 + t) * H + h) * V + e) : 0.f;
  }
}

// Forward (and decoding: sF may alias s0; each thread reads its own elements before it writes them).
extern "C" __global__ void __launch_bounds__(256)
glr_fwd(const void* __restrict__ q, const void* __restrict__ k, const void* __restrict__ v, const void* __restrict__ g, int inF32,
        int gF32, void* __restrict__ o, int outF32, const float* s0, float* sF, const int* __restrict__ seqTab, float scale,
        int H, int K, int V) {
  __shared__ float sq[TB][KMAX], sk[TB][KMAX], sa[TB][KMAX], sv[TB][32], red[TB][NW][32];
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  const int e0 = blockIdx.x * 32, h = blockIdx.y, n = blockIdx.z, e = e0 + lane;
  const int ts = seqTab[4 * n], te = seqTab[4 * n + 1];
  const long long sb = ((long long)n * H + h) * K * (long long)V;
  float st[RMAX];
#pragma unroll
  for (int r = 0; r < RMAX; ++r) {
    const int c = w + NW * r;
    st[r] = (s0 && c < K && e < V) ? s0[sb + (long long)c * V + e] : 0.f;
  }
  for (int t0 = ts; t0 < te; t0 += TB) {
    const int nt = min(TB, te - t0);
    __syncthreads();
    stage(sq, sk, sa, sv, q, k, g, v, inF32, gF32, scale, t0, nt, h, H, K, V, e0, tid);
    __syncthreads();
    for (int t = 0; t < nt; ++t) {
      const float x = sv[t][lane];
      float p = 0.f;
#pragma unroll
      for (int r = 0; r < RMAX; ++r) {
        const int c = w + NW * r;
        if (c < K) {
          st[r] = sa[t][c] * st[r] + sk[t][c] * x;
          p += sq[t][c] * st[r];
        }
      }
      red[t][w][lane] = p;
    }
    __syncthreads();
    for (int idx = tid; idx < nt * 32; idx += NW * 32) {
      const int t = idx >> 5, l = idx & 31;
      if (e0 + l >= V) continue;
      float s = 0.f;
#pragma unroll
      for (int ww = 0; ww < NW; ++ww) s += red[t][ww][l];
      stx(o, outF32, ((long long)(t0 + t) * H + h) * V + e0 + l, s);
    }
  }
  if (sF && e < V) {
#pragma unroll
    for (int r = 0; r < RMAX; ++r) {
      const int c = w + NW * r;
      if (c < K) sF[sb + (long long)c * V + e] = st[r];
    }
  }
}

// dq_t = scale * S_t dO_t^T, accumulated (atomically over the value tiles) into the f32 dq [NTOK, H, K];
// the final state of each sequence into sT (when not null).
extern "C" __global__ void __launch_bounds__(256)
glr_dq(const void* __restrict__ k, const void* __restrict__ v, const void* __restrict__ g, const void* __restrict__ dout, int inF32,
       int gF32, const float* __restrict__ s0, float* __restrict__ dq, float* __restrict__ sT, const int* __restrict__ seqTab,
       float scale, int H, int K, int V) {
  __shared__ float sk[TB][KMAX], sa[TB][KMAX], sv[TB][32], sd[TB][32];
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  const int e0 = blockIdx.x * 32, h = blockIdx.y, n = blockIdx.z, e = e0 + lane;
  const int ts = seqTab[4 * n], te = seqTab[4 * n + 1];
  const long long sb = ((long long)n * H + h) * K * (long long)V;
  float st[RMAX];
#pragma unroll
  for (int r = 0; r < RMAX; ++r) {
    const int c = w + NW * r;
    st[r] = (s0 && c < K && e < V) ? s0[sb + (long long)c * V + e] : 0.f;
  }
  for (int t0 = ts; t0 < te; t0 += TB) {
    const int nt = min(TB, te - t0);
    __syncthreads();
    stage(nullptr, sk, sa, sv, nullptr, k, g, v, inF32, gF32, 1.f, t0, nt, h, H, K, V, e0, tid);
    for (int idx = tid; idx < TB * 32; idx += NW * 32) {
      const int t = idx >> 5, l = idx & 31;
      sd[t][l] = (t < nt && e0 + l < V) ? ldx(dout, inF32, ((long long)(t0 + t) * H + h) * V + e0 + l) : 0.f;
    }
    __syncthreads();
    for (int t = 0; t < nt; ++t) {
      const float x = sv[t][lane], d = sd[t][lane];
      const long long row = ((long long)(t0 + t) * H + h) * K;
#pragma unroll
      for (int r = 0; r < RMAX; ++r) {
        const int c = w + NW * r;
        if (c < K) {
          st[r] = sa[t][c] * st[r] + sk[t][c] * x;
          float p = st[r] * d;
#pragma unroll
          for (int off = 16; off > 0; off >>= 1) p += __shfl_xor_sync(0xffffffffu, p, off);
          if (lane == 0) atomicAdd(dq + row + c, scale * p);
        }
      }
    }
  }
  if (sT && e < V) {
#pragma unroll
    for (int r = 0; r < RMAX; ++r) {
      const int c = w + NW * r;
      if (c < K) sT[sb + (long long)c * V + e] = st[r];
    }
  }
}

// Backwards: G_t = scale q_t^T dO_t + diag(exp(g_{t+1})) G_{t+1} (G after the last token = dS_T or 0),
// dk_t = G_t v_t^T (atomically over the value tiles into the f32 dk), dv_t = k_t G_t (this CTA's columns,
// in dv's dtype), dS0 = diag(exp(g_first)) G_first.
extern "C" __global__ void __launch_bounds__(256)
glr_bwd(const void* __restrict__ q, const void* __restrict__ k, const void* __restrict__ v, const void* __restrict__ g,
        const void* __restrict__ dout, int inF32, int gF32, const float* __restrict__ dht, void* __restrict__ dv, int outF32,
        float* __restrict__ dk, float* __restrict__ dh0, const int* __restrict__ seqTab, float scale, int H, int K, int V) {
  __shared__ float sq[TB][KMAX], sk[TB][KMAX], sa[TB][KMAX], sv[TB][32], sd[TB][32], red[TB][NW][32];
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  const int e0 = blockIdx.x * 32, h = blockIdx.y, n = blockIdx.z, e = e0 + lane;
  const int ts = seqTab[4 * n], te = seqTab[4 * n + 1];
  const long long sb = ((long long)n * H + h) * K * (long long)V;
  float G[RMAX], an[RMAX];
#pragma unroll
  for (int r = 0; r < RMAX; ++r) {
    const int c = w + NW * r;
    G[r] = (dht && c < K && e < V) ? dht[sb + (long long)c * V + e] : 0.f;
    an[r] = 1.f;
  }
  const int nb = (te - ts + TB - 1) / TB;
  for (int jb = nb - 1; jb >= 0; --jb) {
    const int t0 = ts + jb * TB;
    const int nt = min(TB, te - t0);
    __syncthreads();
    stage(sq, sk, sa, sv, q, k, g, v, inF32, gF32, scale, t0, nt, h, H, K, V, e0, tid);
    for (int idx = tid; idx < TB * 32; idx += NW * 32) {
      const int t = idx >> 5, l = idx & 31;
      sd[t][l] = (t < nt && e0 + l < V) ? ldx(dout, inF32, ((long long)(t0 + t) * H + h) * V + e0 + l) : 0.f;
    }
    __syncthreads();
    for (int t = nt - 1; t >= 0; --t) {
      const float x = sv[t][lane], d = sd[t][lane];
      const long long row = ((long long)(t0 + t) * H + h) * K;
      float pv = 0.f;
#pragma unroll
      for (int r = 0; r < RMAX; ++r) {
        const int c = w + NW * r;
        if (c < K) {
          G[r] = an[r] * G[r] + sq[t][c] * d;
          an[r] = sa[t][c];
          pv += sk[t][c] * G[r];
          float p = G[r] * x;
#pragma unroll
          for (int off = 16; off > 0; off >>= 1) p += __shfl_xor_sync(0xffffffffu, p, off);
          if (lane == 0) atomicAdd(dk + row + c, p);
        }
      }
      red[t][w][lane] = pv;
    }
    __syncthreads();
    for (int idx = tid; idx < nt * 32; idx += NW * 32) {
      const int t = idx >> 5, l = idx & 31;
      if (e0 + l >= V) continue;
      float s = 0.f;
#pragma unroll
      for (int ww = 0; ww < NW; ++ww) s += red[t][ww][l];
      stx(dv, outF32, ((long long)(t0 + t) * H + h) * V + e0 + l, s);
    }
  }
  if (dh0 && e < V) {
#pragma unroll
    for (int r = 0; r < RMAX; ++r) {
      const int c = w + NW * r;
      if (c < K) dh0[sb + (long long)c * V + e] = an[r] * G[r];
    }
  }
}
