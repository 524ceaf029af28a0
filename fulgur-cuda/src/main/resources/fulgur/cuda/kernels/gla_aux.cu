// Per-channel scans around gated linear attention: the gradient of the log decay (gla_finish) and
// LightNet's additive recurrence mapped onto GLA (ln_prep, ln_post).
//
// All three are linear (or log-sum-exp) recurrences along time, independent per (sequence, head, key
// channel). One CTA per (32 channels, head, sequence); its 32 * NSEG threads cut the sequence into NSEG
// ranges: each thread reduces its range, the ranges are combined through shared memory, and each thread
// walks its range again with the combined carry (three phases inside one CTA, no extra launches).
// Layout: tokens packed [NTOK, H, K]; seqTab[4n..] = (first token, end token, first segment, segments).
#include <cuda_bf16.h>

#define MAXSEG 32

static __device__ __forceinline__ float ldx(const void* p, int f32, long long i) {
  return f32 ? reinterpret_cast<const float*>(p)[i] : __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(p)[i]);
}
static __device__ __forceinline__ void stx(void* p, int f32, long long i, float v) {
  if (f32) reinterpret_cast<float*>(p)[i] = v;
  else reinterpret_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(v);
}

// this thread's token range [a, b) of sequence n
static __device__ __forceinline__ void my_range(const int* seqTab, int n, int seg, int nseg, int& a, int& b) {
  const int ts = seqTab[4 * n], te = seqTab[4 * n + 1];
  const int chunk = (te - ts + nseg - 1) / nseg;
  a = min(te, ts + seg * chunk);
  b = min(te, a + chunk);
}

// ---------------------------------------------------------------------------------------------
// dq, dk from their f32 partial sums over value tiles (np of them, [np, NTOK, H, K]) and
//   dg_u = sum_{u' >= u} (q * dq - k * dk)_{u'} + sum_e dS_T * S_T      (per channel, within a sequence)
// q, k, dq, dk in the input dtype (qkF32), dg in g's (gF32). dht, sT ([N, H, K, V] f32) may be null.
// Grid (ceil(K/32), H, N); block 32 * nseg.
extern "C" __global__ void __launch_bounds__(1024)
gla_finish(const void* __restrict__ q, const void* __restrict__ k, int qkF32, const float* __restrict__ dqp,
           const float* __restrict__ dkp, int np, long long ntok, const float* __restrict__ dht, const float* __restrict__ sT,
           void* __restrict__ dq, void* __restrict__ dk, void* __restrict__ dg, int gF32, const int* __restrict__ seqTab,
           int H, int K, int V) {
  __shared__ float red[MAXSEG][32];
  const int lane = threadIdx.x & 31, seg = threadIdx.x >> 5, nseg = blockDim.x >> 5;
  const int c = blockIdx.x * 32 + lane, h = blockIdx.y, n = blockIdx.z;
  const bool on = c < K;
  const long long rs = (long long)H * K, part = ntok * rs;
  // the final-state term sum_e dS_T * S_T
  float fs = 0.f;
  if (dht && sT && on) {
    const long long base = (((long long)n * H + h) * K + c) * V;
    for (int e = seg; e < V; e += nseg) fs += dht[base + e] * sT[base + e];
  }
  red[seg][lane] = fs;
  __syncthreads();
  fs = 0.f;
  for (int s = 0; s < nseg; ++s) fs += red[s][lane];
  __syncthreads();

  int a, b;
  my_range(seqTab, n, seg, nseg, a, b);
  const long long col = (long long)h * K + c;
  float tot = 0.f;
  if (on) {
    for (int u = a; u < b; ++u) {
      const long long i = (long long)u * rs + col;
      float gq = 0.f, gk = 0.f;
      for (int p = 0; p < np; ++p) { gq += dqp[p * part + i]; gk += dkp[p * part + i]; }
      tot += ldx(q, qkF32, i) * gq - ldx(k, qkF32, i) * gk;
    }
  }
  red[seg][lane] = tot;
  __syncthreads();
  float r = fs;
  for (int s = seg + 1; s < nseg; ++s) r += red[s][lane];
  if (on) {
    for (int u = b - 1; u >= a; --u) {
      const long long i = (long long)u * rs + col;
      float gq = 0.f, gk = 0.f;
      for (int p = 0; p < np; ++p) { gq += dqp[p * part + i]; gk += dkp[p * part + i]; }
      r += ldx(q, qkF32, i) * gq - ldx(k, qkF32, i) * gk;
      stx(dq, qkF32, i, gq);
      stx(dk, qkF32, i, gk);
      stx(dg, gF32, i, r);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The same for the tensor-core kernels (bf16 q, k, dq, dk; dg f32), block by block: for a block of tokens
// [t0, t1) whose state after it is S_end and its gradient G_end,
//   dg_u = sum_e S_end G_end + sum_{u' >= u in the block} (q * dq - k * dk)_{u'}
// (the paths through the block's end, then those inside it), so the reverse cumsum never leaves a block and
// its rounding does not grow with the sequence. wPart [np, nslots, H, K] holds sum_e S_end G_end over each
// value tile at the block's slot; blkTab[3b..] = (t0, t1, slot). Warp per (block, 32 channels).
// Grid (ceil(nblk / 8), ceil(K / 32), H); block 256.
extern "C" __global__ void __launch_bounds__(256)
gla_finish_blocks(const __nv_bfloat16* __restrict__ q, const __nv_bfloat16* __restrict__ k, const float* __restrict__ dqp,
                  const float* __restrict__ dkp, int np, long long ntok, const float* __restrict__ wPart, long long nslots,
                  __nv_bfloat16* __restrict__ dq, __nv_bfloat16* __restrict__ dk, float* __restrict__ dg, const int* __restrict__ blkTab,
                  int nblk, int H, int K) {
  const int lane = threadIdx.x & 31, b = blockIdx.x * 8 + (threadIdx.x >> 5);
  const int c = blockIdx.y * 32 + lane, h = blockIdx.z;
  if (b >= nblk || c >= K) return;
  const int t0 = blkTab[3 * b], t1 = blkTab[3 * b + 1], slot = blkTab[3 * b + 2];
  const long long rs = (long long)H * K, part = ntok * rs, col = (long long)h * K + c;
  float run = 0.f;
  for (int p = 0; p < np; ++p) run += wPart[((p * nslots + slot) * H + h) * K + c];
  constexpr int U = 8;
  for (int ub = t1; ub > t0; ub -= U) {
    float gq[U], gk[U], qv[U], kv[U];
#pragma unroll
    for (int j = 0; j < U; ++j) {
      const int u = max(ub - 1 - j, t0);  // past t0: a repeat of t0, neither summed nor stored
      const long long i = (long long)u * rs + col;
      float a = 0.f, bsum = 0.f;
      for (int p = 0; p < np; ++p) { a += dqp[p * part + i]; bsum += dkp[p * part + i]; }
      gq[j] = a;
      gk[j] = bsum;
      qv[j] = __bfloat162float(q[i]);
      kv[j] = __bfloat162float(k[i]);
    }
#pragma unroll
    for (int j = 0; j < U; ++j) {
      const int u = ub - 1 - j;
      if (u >= t0) {
        const long long i = (long long)u * rs + col;
        run += qv[j] * gq[j] - kv[j] * gk[j];
        dq[i] = __float2bfloat16(gq[j]);
        dk[i] = __float2bfloat16(gk[j]);
        dg[i] = run;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// LightNet onto GLA: per channel z_t = logaddexp(z_{t-1}, k_t) (z_{-1} = z0, or -inf without a state),
//   kt_t = exp(k_t - z_t)  (the GLA key),  g_t = z_{t-1} - z_t  (the GLA log decay; 0 at t = 0 without z0)
// k in its dtype (kF32), kt in ktF32's, g and z f32. z (all positions) and zT (the last) may be null.
static __device__ __forceinline__ float lae(float a, float b) {
  if (a == -INFINITY) return b;
  if (b == -INFINITY) return a;
  const float m = fmaxf(a, b);
  return m + log1pf(expf(-fabsf(a - b)));
}

extern "C" __global__ void __launch_bounds__(1024)
ln_prep(const void* __restrict__ k, int kF32, const float* __restrict__ z0, void* __restrict__ kt, int ktF32,
        float* __restrict__ g, float* __restrict__ z, float* __restrict__ zT, const int* __restrict__ seqTab, int H, int K) {
  __shared__ float red[MAXSEG][32];
  const int lane = threadIdx.x & 31, seg = threadIdx.x >> 5, nseg = blockDim.x >> 5;
  const int c = blockIdx.x * 32 + lane, h = blockIdx.y, n = blockIdx.z;
  const bool on = c < K;
  const long long rs = (long long)H * K, col = (long long)h * K + c;
  int a, b;
  my_range(seqTab, n, seg, nseg, a, b);
  float l = -INFINITY;
  if (on) for (int u = a; u < b; ++u) l = lae(l, ldx(k, kF32, (long long)u * rs + col));
  red[seg][lane] = l;
  __syncthreads();
  float zr = (z0 && on) ? z0[((long long)n * H + h) * K + c] : -INFINITY;
  for (int s = 0; s < seg; ++s) zr = lae(zr, red[s][lane]);
  if (seg == 0 && zT && on) {
    float all = zr;
    for (int s = 0; s < nseg; ++s) all = lae(all, red[s][lane]);
    zT[((long long)n * H + h) * K + c] = all;
  }
  if (!on) return;
  for (int u = a; u < b; ++u) {
    const long long i = (long long)u * rs + col;
    const float kv = ldx(k, kF32, i);
    const float zn = lae(zr, kv);
    g[i] = zr == -INFINITY ? 0.f : zr - zn;
    stx(kt, ktF32, i, expf(kv - zn));
    if (z) z[i] = zn;
    zr = zn;
  }
}

// The chain rule back through ln_prep: with dkt, dg the gradients of the GLA key and log decay, dzT that
// of the final z (or null),
//   R_t = dz_t + a_{t+1} R_{t+1},   a_t = exp(z_{t-1} - z_t),
//   dz_t = -dkt_t kt_t - dg_t [t > 0 or z0] + dg_{t+1} [t+1 < len] + dzT [t = len-1]
//   dk_t = kt_t (dkt_t + R_t);   dz0 = dg_0 + a_0 R_0 (with a state)
// Each range is reduced from its right end with zero carry (local value and the product of the a's),
// the carries are combined right to left, then each range walks again.
extern "C" __global__ void __launch_bounds__(1024)
ln_post(const void* __restrict__ k, int kF32, const float* __restrict__ z, const float* __restrict__ z0,
        const void* __restrict__ dkt, int dktF32, const float* __restrict__ dg, const float* __restrict__ dzT,
        void* __restrict__ dk, float* __restrict__ dz0, const int* __restrict__ seqTab, int H, int K) {
  __shared__ float redL[MAXSEG][32], redM[MAXSEG][32];
  const int lane = threadIdx.x & 31, seg = threadIdx.x >> 5, nseg = blockDim.x >> 5;
  const int c = blockIdx.x * 32 + lane, h = blockIdx.y, n = blockIdx.z;
  const bool on = c < K;
  const long long rs = (long long)H * K, col = (long long)h * K + c;
  const int ts = seqTab[4 * n], te = seqTab[4 * n + 1];
  const long long sh = ((long long)n * H + h) * K + c;
  const float zinit = (z0 && on) ? z0[sh] : -INFINITY;
  const float dzEnd = (dzT && on) ? dzT[sh] : 0.f;
  int a, b;
  my_range(seqTab, n, seg, nseg, a, b);
  // a_u = exp(z_{u-1} - z_u) (0 at the first token without a state)
  auto decay = [&](int u) -> float {
    const float zp = u == ts ? zinit : z[(long long)(u - 1) * rs + col];
    return zp == -INFINITY ? 0.f : expf(zp - z[(long long)u * rs + col]);
  };
  auto dzt = [&](int u) -> float {
    const long long i = (long long)u * rs + col;
    const float ktv = expf(ldx(k, kF32, i) - z[i]);
    float d = -ldx(dkt, dktF32, i) * ktv;
    if (u > ts || z0) d -= dg[i];
    if (u + 1 < te) d += dg[i + rs];
    else d += dzEnd;
    return d;
  };
  float loc = 0.f, mul = 1.f;
  if (on && b > a) {
    mul = b < te ? decay(b) : 0.f;
    for (int u = b - 1; u >= a; --u) {
      loc = dzt(u) + (u + 1 < b ? decay(u + 1) : 0.f) * loc;
      if (u > a) mul *= decay(u);
    }
  }
  redL[seg][lane] = loc;
  redM[seg][lane] = mul;
  __syncthreads();
  // R at b (the first token of the next range), combining the ranges to the right
  float R = 0.f;
  for (int s = nseg - 1; s > seg; --s) R = redL[s][lane] + redM[s][lane] * R;
  if (!on || b <= a) return;
  for (int u = b - 1; u >= a; --u) {
    const long long i = (long long)u * rs + col;
    R = dzt(u) + (u + 1 < te ? decay(u + 1) : 0.f) * R;
    const float ktv = expf(ldx(k, kF32, i) - z[i]);
    stx(dk, kF32, i, ktv * (ldx(dkt, dktF32, i) + R));
  }
  if (a == ts && dz0 && z0) dz0[sh] = dg[(long long)ts * rs + col] + decay(ts) * R;
}
