// LightNet onto GLA: per key channel
//   z_t = logaddexp(z_{t-1}, k_t)   (z_{-1} = z0, or -inf without a state)
//   kt_t = exp(k_t - z_t)  (the GLA key),   g_t = z_{t-1} - z_t  (the GLA log decay; 0 at t = 0 without z0)
// and the chain rule back through it. Both are per-channel scans along each sequence, run as chunked parallel
// scans: sequences are cut into chunks of a few hundred tokens at most (seqTab/chkTab: Sequences with the chunk
// length as segment length), a first pass reduces every chunk to a carry, a pass over each sequence's chunks turns
// the carries into entering values, and a last pass walks every chunk again from its entering value.
// Thread per (channel, chunk): lanes are 32 consecutive channels (coalesced rows), the 8 warps of a CTA 8 chunks.
// Grid (ceil(K / 32), ceil(chunks / 8), H) for the chunk passes; tokens packed [NTOK, H, K].
//   seqTab[4n..] = (first token, end token, first chunk, chunks)     chkTab[4c..] = (t0, t1, sequence, flags)
#include <cuda_bf16.h>

#define U 8   // tokens whose loads are issued together

static __device__ __forceinline__ float ldx(const void* p, int f32, long long i) {
  return f32 ? reinterpret_cast<const float*>(p)[i] : __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(p)[i]);
}
static __device__ __forceinline__ void stx(void* p, int f32, long long i, float v) {
  if (f32) reinterpret_cast<float*>(p)[i] = v;
  else reinterpret_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(v);
}

static __device__ __forceinline__ float lae(float a, float b) {
  if (a == -INFINITY) return b;
  if (b == -INFINITY) return a;
  const float m = fmaxf(a, b);
  return m + log1pf(expf(-fabsf(a - b)));
}

// this thread's chunk and channel; false when out of range
struct Lane {
  int c, ch, t0, t1, seq, flags;
  long long col, rs;
};
static __device__ __forceinline__ bool lane_of(Lane& l, const int* chkTab, int nchunks, int H, int K) {
  l.c = blockIdx.x * 32 + (threadIdx.x & 31);
  l.ch = blockIdx.y * 8 + (threadIdx.x >> 5);
  if (l.c >= K || l.ch >= nchunks) return false;
  l.t0 = chkTab[4 * l.ch];
  l.t1 = chkTab[4 * l.ch + 1];
  l.seq = chkTab[4 * l.ch + 2];
  l.flags = chkTab[4 * l.ch + 3];
  l.rs = (long long)H * K;
  l.col = (long long)blockIdx.z * K + l.c;
  return true;
}

// carries [chunks, H, K]
static __device__ __forceinline__ long long carry_idx(int ch, int h, int H, int K, int c) { return ((long long)ch * H + h) * K + c; }

// ---------------------------------------------------------------------------------------------
// Forward, pass 1: the log-sum-exp of each chunk's k into carry.
extern "C" __global__ void __launch_bounds__(256)
ln_prep_local(const void* __restrict__ k, int kF32, float* __restrict__ carry, const int* __restrict__ chkTab, int nchunks, int H, int K) {
  Lane l;
  if (!lane_of(l, chkTab, nchunks, H, K)) return;
  float acc = -INFINITY;
  for (int ub = l.t0; ub < l.t1; ub += U) {
    float x[U];
#pragma unroll
    for (int j = 0; j < U; ++j) x[j] = ub + j < l.t1 ? ldx(k, kF32, (long long)(ub + j) * l.rs + l.col) : -INFINITY;
#pragma unroll
    for (int j = 0; j < U; ++j) acc = lae(acc, x[j]);
  }
  carry[carry_idx(l.ch, blockIdx.z, H, K, l.c)] = acc;
}

// Forward, pass 2: thread per (head, channel) of sequence n: carry[c] <- z entering chunk c (from z0 or -inf);
// the final z into zT (when not null). Grid (ceil(H K / 256), N); block 256.
extern "C" __global__ void __launch_bounds__(256)
ln_prep_carry(float* __restrict__ carry, const float* __restrict__ z0, float* __restrict__ zT, const int* __restrict__ seqTab, int H, int K) {
  const int idx = blockIdx.x * 256 + threadIdx.x, n = blockIdx.y;
  if (idx >= H * K) return;
  const int first = seqTab[4 * n + 2], nc = seqTab[4 * n + 3];
  const long long st = (long long)n * H * K + idx;
  float run = z0 ? z0[st] : -INFINITY;
  for (int cb = 0; cb < nc; cb += U) {
    float x[U];
#pragma unroll
    for (int j = 0; j < U; ++j) x[j] = cb + j < nc ? carry[(long long)(first + cb + j) * H * K + idx] : -INFINITY;
#pragma unroll
    for (int j = 0; j < U; ++j) {
      if (cb + j < nc) carry[(long long)(first + cb + j) * H * K + idx] = run;
      run = lae(run, x[j]);
    }
  }
  if (zT) zT[st] = run;
}

// Forward, pass 3: kt (ktF32's dtype), g (f32) and z (f32, when not null) from each chunk's entering z.
extern "C" __global__ void __launch_bounds__(256)
ln_prep(const void* __restrict__ k, int kF32, const float* __restrict__ carry, void* __restrict__ kt, int ktF32, float* __restrict__ g,
        float* __restrict__ z, const int* __restrict__ chkTab, int nchunks, int H, int K) {
  Lane l;
  if (!lane_of(l, chkTab, nchunks, H, K)) return;
  float zr = carry[carry_idx(l.ch, blockIdx.z, H, K, l.c)];
  for (int ub = l.t0; ub < l.t1; ub += U) {
    float x[U];
#pragma unroll
    for (int j = 0; j < U; ++j) x[j] = ub + j < l.t1 ? ldx(k, kF32, (long long)(ub + j) * l.rs + l.col) : 0.f;
#pragma unroll
    for (int j = 0; j < U; ++j) {
      if (ub + j >= l.t1) break;
      const long long i = (long long)(ub + j) * l.rs + l.col;
      const float zn = lae(zr, x[j]);
      g[i] = zr == -INFINITY ? 0.f : zr - zn;
      stx(kt, ktF32, i, expf(x[j] - zn));
      if (z) z[i] = zn;
      zr = zn;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Backward. With dkt, dg the gradients of the GLA key and log decay, dzT that of the final z (or null),
//   R_t = dz_t + a_{t+1} R_{t+1},   a_t = exp(z_{t-1} - z_t)  (0 at a sequence's first token without a state)
//   dz_t = -dkt_t kt_t - dg_t [t > first or z0] + dg_{t+1} [t + 1 < end] + dzT [t = end - 1]
//   dk_t = kt_t (dkt_t + R_t);   dz0 = dg_first + a_first R_first (with a state).
// Carried across chunks as R'_t = a_t R_t (what flows into t - 1): over a chunk [t0, t1),
//   R'_{t0} = sum_u (prod_{t0 <= r <= u} a_r) dz_u + (prod_{t0 <= r < t1} a_r) R'_{t1}.

// dz_u, a_u, kt_u and dkt_u of token u of this lane's sequence [ts, te); z0v: this lane's initial z, or null
struct Tok {
  float dz, a, kt, dkt;
};
static __device__ __forceinline__ Tok tok(const void* k, int kF32, const float* z, const float* z0v, const void* dkt, int dktF32,
    const float* dg, float dzEnd, int u, int ts, int te, long long rs, long long col) {
  const bool hasZ0 = z0v != nullptr;
  const long long i = (long long)u * rs + col;
  const float zu = z[i];
  const float zp = u == ts ? (hasZ0 ? *z0v : -INFINITY) : z[i - rs];
  Tok r;
  r.kt = expf(ldx(k, kF32, i) - zu);
  r.dkt = ldx(dkt, dktF32, i);
  r.a = zp == -INFINITY ? 0.f : expf(zp - zu);
  float d = -r.dkt * r.kt;
  if (u > ts || hasZ0) d -= dg[i];
  d += u + 1 < te ? dg[i + rs] : dzEnd;
  r.dz = d;
  return r;
}

// Pass 1: each chunk from R' = 0 at its end: the local R'_{t0} into carry and prod a into mul.
extern "C" __global__ void __launch_bounds__(256)
ln_post_local(const void* __restrict__ k, int kF32, const float* __restrict__ z, const float* __restrict__ z0, const void* __restrict__ dkt,
              int dktF32, const float* __restrict__ dg, const float* __restrict__ dzT, float* __restrict__ carry, float* __restrict__ mul,
              const int* __restrict__ seqTab, const int* __restrict__ chkTab, int nchunks, int H, int K) {
  Lane l;
  if (!lane_of(l, chkTab, nchunks, H, K)) return;
  const int ts = seqTab[4 * l.seq], te = seqTab[4 * l.seq + 1];
  const long long sh = ((long long)l.seq * H + blockIdx.z) * K + l.c;
  const float dzEnd = dzT ? dzT[sh] : 0.f;
  const float* z0s = z0 ? z0 + sh : nullptr;
  float rp = 0.f, m = 1.f;
  for (int ub = l.t1; ub > l.t0; ub -= U) {
    Tok x[U];
#pragma unroll
    for (int j = 0; j < U; ++j) x[j] = tok(k, kF32, z, z0s, dkt, dktF32, dg, dzEnd, max(ub - 1 - j, l.t0), ts, te, l.rs, l.col);
#pragma unroll
    for (int j = 0; j < U; ++j) {
      if (ub - 1 - j < l.t0) break;
      rp = x[j].a * (x[j].dz + rp);
      m *= x[j].a;
    }
  }
  const long long ci = carry_idx(l.ch, blockIdx.z, H, K, l.c);
  carry[ci] = rp;
  mul[ci] = m;
}

// Pass 2: thread per (head, channel) of sequence n, from its last chunk back: carry[c] <- R' entering chunk c at
// its end; dz0 = dg_first + R'_first (with a state). Grid (ceil(H K / 256), N); block 256.
extern "C" __global__ void __launch_bounds__(256)
ln_post_carry(float* __restrict__ carry, const float* __restrict__ mul, const float* __restrict__ dg, const float* __restrict__ z0,
              float* __restrict__ dz0, const int* __restrict__ seqTab, int H, int K) {
  const int idx = blockIdx.x * 256 + threadIdx.x, n = blockIdx.y;
  if (idx >= H * K) return;
  const int first = seqTab[4 * n + 2], nc = seqTab[4 * n + 3];
  float run = 0.f;
  for (int cb = nc - 1; cb >= 0; cb -= U) {
    float lo[U], mu[U];
#pragma unroll
    for (int j = 0; j < U; ++j) {
      const long long ci = (long long)(first + max(cb - j, 0)) * H * K + idx;
      lo[j] = carry[ci];
      mu[j] = mul[ci];
    }
#pragma unroll
    for (int j = 0; j < U; ++j) {
      if (cb - j < 0) break;
      carry[(long long)(first + cb - j) * H * K + idx] = run;
      run = lo[j] + mu[j] * run;
    }
  }
  if (dz0 && z0) dz0[(long long)n * H * K + idx] = dg[(long long)seqTab[4 * n] * H * K + idx] + run;
}

// Pass 3: dk = kt (dkt + R) over each chunk, backwards from its entering R'.
extern "C" __global__ void __launch_bounds__(256)
ln_post(const void* __restrict__ k, int kF32, const float* __restrict__ z, const float* __restrict__ z0, const void* __restrict__ dkt,
        int dktF32, const float* __restrict__ dg, const float* __restrict__ dzT, const float* __restrict__ carry, void* __restrict__ dk,
        const int* __restrict__ seqTab, const int* __restrict__ chkTab, int nchunks, int H, int K) {
  Lane l;
  if (!lane_of(l, chkTab, nchunks, H, K)) return;
  const int ts = seqTab[4 * l.seq], te = seqTab[4 * l.seq + 1];
  const long long sh = ((long long)l.seq * H + blockIdx.z) * K + l.c;
  const float dzEnd = dzT ? dzT[sh] : 0.f;
  const float* z0s = z0 ? z0 + sh : nullptr;
  float rp = carry[carry_idx(l.ch, blockIdx.z, H, K, l.c)];
  for (int ub = l.t1; ub > l.t0; ub -= U) {
    Tok x[U];
#pragma unroll
    for (int j = 0; j < U; ++j) x[j] = tok(k, kF32, z, z0s, dkt, dktF32, dg, dzEnd, max(ub - 1 - j, l.t0), ts, te, l.rs, l.col);
#pragma unroll
    for (int j = 0; j < U; ++j) {
      const int u = ub - 1 - j;
      if (u < l.t0) break;
      const float R = x[j].dz + rp;
      stx(dk, kF32, (long long)u * l.rs + l.col, x[j].kt * (x[j].dkt + R));
      rp = x[j].a * R;
    }
  }
}
