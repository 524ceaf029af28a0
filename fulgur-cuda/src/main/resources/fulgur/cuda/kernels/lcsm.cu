// LCSM's Expand-Oscillation-Shrink scan (fulgur.ops.lcsm.Lcsm#scan) with memory m_t in R^{k x d}:
//   m_t = a_t * m_{t-1} + e_t * i_t,   a_t = exp(logO_t),      y_t = sum_k s_t * m_t   (elementwise per (k, d))
// i [B, T, d]; e, logO, s [B, T, k, d] given by element strides (broadcast views have stride 0); m0, mT
// [B, k, d] contiguous. Every (k, d) entry is an independent first-order linear recurrence, run in f32.
//
// Chunked parallel scan: time is cut into chunks of CL tokens.
//   1. lcsm_local: per chunk, from zero, the end state L_c and the log decay A_c = sum logO (and, for the
//      backward, the chunk's local gradient carry, below).
//   2. lcsm_carry: per (b, k, d), a sequential pass over the chunks turns the local carries into entering
//      states (E_{c+1} = exp(A_c) E_c + L_c, E_0 = m0) and, backwards, entering gradient states.
//   3. lcsm_fwd / lcsm_bwd: each chunk walks again from its entering state(s), writing y (or the gradients).
// Thread (warp ty, lane): d = 32 blockIdx.x + lane, entries k = KPT ty + j (j < KPT); blockDim = 32 ceil(k/KPT)
// <= 256 (KPT, 4 or 8, is a compile-time define: k <= 8 KPT).
// The sums over k (y, di) go through shared memory SUB tokens at a time when k > KPT.
//
// Backward. With acc_t = s_t dy_t + a_{t+1} acc_{t+1} (the gradient of m_t) and acc'_t = a_t acc_t (what flows
// into m_{t-1}; acc'_T = dmT):
//   ds_t = dy_t m_t,  de_t = acc_t i_t,  dlogO_t = acc_t a_t m_{t-1},  di_t = sum_k acc_t e_t,  dm0 = acc'_0.
// Over a chunk [t0, t1): acc'_{t0} = sum_u (prod_{t0<=r<=u} a_r) s_u dy_u + exp(A_c) acc'_{t1}, so the backward
// carries share the forward decays; the local part is summed forwards with the running product. The walk of a
// chunk keeps m at every SUB-th token (shared memory), then goes back one sub-chunk at a time, recomputing its
// SUB states in registers.
#include <cuda_bf16.h>

#define CL 64      // tokens per chunk
#define SUB 8      // tokens per sub-chunk
#define NSUB (CL / SUB)
#ifndef KPT
#define KPT 4      // entries per thread: k <= 8 KPT
#endif

struct LcsmDesc {
  long long si[3];       // i: b, t, d
  long long se[4];       // e: b, t, k, d
  long long so[4];       // logO
  long long ss[4];       // s
};

static __device__ __forceinline__ float ldx(const void* p, int f32, long long i) {
  return f32 ? reinterpret_cast<const float*>(p)[i] : __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(p)[i]);
}
static __device__ __forceinline__ void stx(void* p, int f32, long long i, float v) {
  if (f32) reinterpret_cast<float*>(p)[i] = v;
  else reinterpret_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(v);
}

// the inputs of one token for this thread's entries (absent entries: a = 1, everything else 0); with A, the
// log decays are added to it
struct Tok {
  float iv, a[KPT], ev[KPT];
};

static __device__ __forceinline__ void load_tok(Tok& x, const void* in, const void* e, const void* lo, int f32, const LcsmDesc& st,
    int b, int t, int d, int k0, int K, bool on, float* A = nullptr) {
  x.iv = on ? ldx(in, f32, b * st.si[0] + t * st.si[1] + d * st.si[2]) : 0.f;
#pragma unroll
  for (int j = 0; j < KPT; ++j) {
    const int kk = k0 + j;
    const bool ok = on && kk < K;
    const float l = ok ? ldx(lo, f32, b * st.so[0] + t * st.so[1] + kk * st.so[2] + d * st.so[3]) : 0.f;
    x.ev[j] = ok ? ldx(e, f32, b * st.se[0] + t * st.se[1] + kk * st.se[2] + d * st.se[3]) : 0.f;
    x.a[j] = expf(l);
    if (A) A[j] += l;
  }
}

static __device__ __forceinline__ float lds(const void* s, int f32, const LcsmDesc& st, int b, int t, int kk, int d) {
  return ldx(s, f32, b * st.ss[0] + t * st.ss[1] + kk * st.ss[2] + d * st.ss[3]);
}

// carries [B, nc, K, D] f32
static __device__ __forceinline__ long long cidx(int b, int c, int nc, int kk, int K, int d, int D) {
  return (((long long)b * nc + c) * K + kk) * D + d;
}

// ---------------------------------------------------------------------------------------------
// Phase 1. Per chunk from zero: lf = end state, la = sum logO; with dy (backward): lb = sum_u P_u s_u dy_u,
// P_u = prod_{t0 <= r <= u} a_r. Grid (ceil(D/32), nc, B); block 32 ceil(K/KPT).
extern "C" __global__ void __launch_bounds__(256)
lcsm_local(const void* __restrict__ in, const void* __restrict__ e, const void* __restrict__ lo, const void* __restrict__ s, int f32,
           const __grid_constant__ LcsmDesc st, const void* __restrict__ dy, float* __restrict__ lf, float* __restrict__ la,
           float* __restrict__ lb, int T, int K, int D) {
  const int lane = threadIdx.x & 31, ty = threadIdx.x >> 5;
  const int d = blockIdx.x * 32 + lane, c = blockIdx.y, b = blockIdx.z, nc = gridDim.y;
  const int k0 = ty * KPT;
  const bool on = d < D;
  const int t0 = c * CL, t1 = min(T, t0 + CL);
  float m[KPT], A[KPT], P[KPT], L[KPT];
#pragma unroll
  for (int j = 0; j < KPT; ++j) { m[j] = 0.f; A[j] = 0.f; P[j] = 1.f; L[j] = 0.f; }
  for (int tb = t0; tb < t1; tb += SUB) {
    // SUB tokens' loads first (they do not depend on the recurrence), then the updates
    Tok x[SUB];
    float g[SUB], sv[SUB][KPT];
#pragma unroll
    for (int u = 0; u < SUB; ++u) {
      const int t = tb + u;
      const bool ok = on && t < t1;
      load_tok(x[u], in, e, lo, f32, st, b, ok ? t : t0, d, k0, K, ok, A);
      g[u] = (dy && ok) ? ldx(dy, f32, ((long long)b * T + t) * D + d) : 0.f;
#pragma unroll
      for (int j = 0; j < KPT; ++j) sv[u][j] = (dy && ok && k0 + j < K) ? lds(s, f32, st, b, t, k0 + j, d) : 0.f;
    }
#pragma unroll
    for (int u = 0; u < SUB; ++u) {
#pragma unroll
      for (int j = 0; j < KPT; ++j) {
        m[j] = x[u].a[j] * m[j] + x[u].ev[j] * x[u].iv;
        P[j] *= x[u].a[j];
        L[j] += P[j] * sv[u][j] * g[u];
      }
    }
  }
  if (!on) return;
#pragma unroll
  for (int j = 0; j < KPT; ++j) {
    const int kk = k0 + j;
    if (kk >= K) continue;
    const long long ci = cidx(b, c, nc, kk, K, d, D);
    lf[ci] = m[j];
    la[ci] = A[j];
    if (lb) lb[ci] = L[j];
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 2. Thread per (b, k, d): in place, lf[c] <- entering state of chunk c (from m0, or 0), mT <- the state
// after the last chunk; with lb: lb[c] <- acc' entering chunk c from its right end (from dmT, or 0), dm0 <- acc'_0.
// Grid (ceil(K D / 256), B); block 256.
extern "C" __global__ void __launch_bounds__(256)
lcsm_carry(float* __restrict__ lf, const float* __restrict__ la, float* __restrict__ lb, const void* __restrict__ m0,
           const void* __restrict__ dmT, int f32, void* __restrict__ mT, void* __restrict__ dm0, int nc, int K, int D) {
  const int idx = blockIdx.x * 256 + threadIdx.x;
  if (idx >= K * D) return;
  const int b = blockIdx.y, kk = idx / D, d = idx - kk * D;
  const long long sidx = (long long)b * K * D + idx;
  if (lf) {
    float run = m0 ? ldx(m0, f32, sidx) : 0.f;
    for (int c = 0; c < nc; ++c) {
      const long long ci = cidx(b, c, nc, kk, K, d, D);
      const float l = lf[ci];
      lf[ci] = run;
      run = expf(la[ci]) * run + l;
    }
    if (mT) stx(mT, f32, sidx, run);
  }
  if (lb) {
    float run = dmT ? ldx(dmT, f32, sidx) : 0.f;
    for (int c = nc - 1; c >= 0; --c) {
      const long long ci = cidx(b, c, nc, kk, K, d, D);
      const float l = lb[ci];
      lb[ci] = run;
      run = expf(la[ci]) * run + l;
    }
    if (dm0) stx(dm0, f32, sidx, run);
  }
}

// sums part over the warps (k groups) of this CTA for SUB tokens and stores them at out[b, tb + u, d]
static __device__ __forceinline__ void reduce_store(float* red, const float (&part)[SUB], void* out, int f32, int b, int tb, int t1,
    int T, int D) {
  const int lane = threadIdx.x & 31, ty = threadIdx.x >> 5, kg = blockDim.x >> 5;
  const int d = blockIdx.x * 32 + lane;
  if (kg == 1) {
    if (d < D) {
#pragma unroll
      for (int u = 0; u < SUB; ++u)
        if (tb + u < t1) stx(out, f32, ((long long)b * T + tb + u) * D + d, part[u]);
    }
    return;
  }
#pragma unroll
  for (int u = 0; u < SUB; ++u) red[(u * kg + ty) * 33 + lane] = part[u];
  __syncthreads();
  for (int idx = threadIdx.x; idx < SUB * 32; idx += blockDim.x) {
    const int u = idx >> 5, l = idx & 31, dd = blockIdx.x * 32 + l;
    if (dd >= D || tb + u >= t1) continue;
    float sum = 0.f;
    for (int r = 0; r < kg; ++r) sum += red[(u * kg + r) * 33 + l];
    stx(out, f32, ((long long)b * T + tb + u) * D + dd, sum);
  }
  __syncthreads();
}

// ---------------------------------------------------------------------------------------------
// Phase 3, forward: y from each chunk's entering state (lf after phase 2). Grid and block as phase 1; dynamic
// shared memory: the reduction rows, SUB * kg * 33 floats when kg = blockDim / 32 > 1.
extern "C" __global__ void __launch_bounds__(256)
lcsm_fwd(const void* __restrict__ in, const void* __restrict__ e, const void* __restrict__ lo, const void* __restrict__ s, int f32,
         const __grid_constant__ LcsmDesc st, const float* __restrict__ enter, void* __restrict__ y, int T, int K, int D) {
  extern __shared__ float red[];
  const int lane = threadIdx.x & 31, ty = threadIdx.x >> 5;
  const int d = blockIdx.x * 32 + lane, c = blockIdx.y, b = blockIdx.z, nc = gridDim.y;
  const int k0 = ty * KPT;
  const bool on = d < D;
  const int t0 = c * CL, t1 = min(T, t0 + CL);
  float m[KPT];
#pragma unroll
  for (int j = 0; j < KPT; ++j) m[j] = (on && k0 + j < K) ? enter[cidx(b, c, nc, k0 + j, K, d, D)] : 0.f;
  for (int tb = t0; tb < t1; tb += SUB) {
    Tok x[SUB];
    float sv[SUB][KPT];
#pragma unroll
    for (int u = 0; u < SUB; ++u) {
      const int t = tb + u;
      const bool ok = on && t < t1;
      load_tok(x[u], in, e, lo, f32, st, b, ok ? t : t0, d, k0, K, ok);
#pragma unroll
      for (int j = 0; j < KPT; ++j) sv[u][j] = (ok && k0 + j < K) ? lds(s, f32, st, b, t, k0 + j, d) : 0.f;
    }
    float part[SUB];
#pragma unroll
    for (int u = 0; u < SUB; ++u) {
      part[u] = 0.f;
#pragma unroll
      for (int j = 0; j < KPT; ++j) {
        m[j] = x[u].a[j] * m[j] + x[u].ev[j] * x[u].iv;
        part[u] += sv[u][j] * m[j];
      }
    }
    reduce_store(red, part, y, f32, b, tb, t1, T, D);
  }
}

// ---------------------------------------------------------------------------------------------
// Phase 3, backward: from the entering forward state (fenter) and the entering gradient state at the chunk's
// right end (benter), the gradients ds, de, dlogO ([B, T, K, D] contiguous), di [B, T, D]. Dynamic shared
// memory: NSUB * KPT * blockDim floats (the checkpoints), then the reduction rows as lcsm_fwd. Grid and block as
// phase 1.
extern "C" __global__ void __launch_bounds__(256)
lcsm_bwd(const void* __restrict__ in, const void* __restrict__ e, const void* __restrict__ lo, const void* __restrict__ s, int f32,
         const __grid_constant__ LcsmDesc st, const void* __restrict__ dy, const float* __restrict__ fenter, const float* __restrict__ benter,
         void* __restrict__ di, void* __restrict__ de, void* __restrict__ dlo, void* __restrict__ ds, int T, int K, int D) {
  extern __shared__ float ckpt[];
  const int lane = threadIdx.x & 31, ty = threadIdx.x >> 5, nth = blockDim.x;
  float* red = ckpt + NSUB * KPT * nth;
  const int d = blockIdx.x * 32 + lane, c = blockIdx.y, b = blockIdx.z, nc = gridDim.y;
  const int k0 = ty * KPT;
  const bool on = d < D;
  const int t0 = c * CL, t1 = min(T, t0 + CL);
  const int nsub = (t1 - t0 + SUB - 1) / SUB;
  float m[KPT], accp[KPT];
#pragma unroll
  for (int j = 0; j < KPT; ++j) {
    const bool ok = on && k0 + j < K;
    m[j] = ok ? fenter[cidx(b, c, nc, k0 + j, K, d, D)] : 0.f;
    accp[j] = ok ? benter[cidx(b, c, nc, k0 + j, K, d, D)] : 0.f;
  }
  // forwards: m at the start of every sub-chunk
  for (int q = 0; q < nsub; ++q) {
    const int tb = t0 + q * SUB;
#pragma unroll
    for (int j = 0; j < KPT; ++j) ckpt[(q * KPT + j) * nth + threadIdx.x] = m[j];
    Tok x[SUB];
#pragma unroll
    for (int u = 0; u < SUB; ++u) {
      const bool ok = on && tb + u < t1;
      load_tok(x[u], in, e, lo, f32, st, b, ok ? tb + u : t0, d, k0, K, ok);
    }
#pragma unroll
    for (int u = 0; u < SUB; ++u)
#pragma unroll
      for (int j = 0; j < KPT; ++j) m[j] = x[u].a[j] * m[j] + x[u].ev[j] * x[u].iv;
  }
  // backwards, one sub-chunk at a time
  for (int q = nsub - 1; q >= 0; --q) {
    const int tb = t0 + q * SUB;
    Tok x[SUB];
    float g[SUB], mt[SUB][KPT], m0[KPT];
#pragma unroll
    for (int u = 0; u < SUB; ++u) {
      const bool ok = on && tb + u < t1;
      load_tok(x[u], in, e, lo, f32, st, b, ok ? tb + u : t0, d, k0, K, ok);
      g[u] = ok ? ldx(dy, f32, ((long long)b * T + tb + u) * D + d) : 0.f;
    }
#pragma unroll
    for (int j = 0; j < KPT; ++j) m0[j] = ckpt[(q * KPT + j) * nth + threadIdx.x];
#pragma unroll
    for (int u = 0; u < SUB; ++u)
#pragma unroll
      for (int j = 0; j < KPT; ++j) mt[u][j] = x[u].a[j] * (u == 0 ? m0[j] : mt[u > 0 ? u - 1 : 0][j]) + x[u].ev[j] * x[u].iv;
    float part[SUB];
#pragma unroll
    for (int u = SUB - 1; u >= 0; --u) {
      const int t = tb + u;
      const bool ok = on && t < t1;
      part[u] = 0.f;
#pragma unroll
      for (int j = 0; j < KPT; ++j) {
        const int kk = k0 + j;
        if (!ok || kk >= K) continue;
        const float sv = lds(s, f32, st, b, t, kk, d);
        const float mprev = u == 0 ? m0[j] : mt[u > 0 ? u - 1 : 0][j];
        const float acc = sv * g[u] + accp[j];
        const long long o4 = (((long long)b * T + t) * K + kk) * D + d;
        stx(ds, f32, o4, g[u] * mt[u][j]);
        stx(de, f32, o4, acc * x[u].iv);
        stx(dlo, f32, o4, acc * x[u].a[j] * mprev);
        part[u] += acc * x[u].ev[j];
        accp[j] = x[u].a[j] * acc;
      }
    }
    reduce_store(red, part, di, f32, b, tb, t1, T, D);
  }
}
