// The last pass of gated linear attention's backward: dq, dk from their f32 partial sums over value tiles and
// the gradient of the log decay, a reverse cumsum along time per (sequence, head, key channel).
//
// gla_finish (the exact f32 kernels): one CTA per (32 channels, head, sequence); its 32 * NSEG threads cut the
// sequence into NSEG ranges: each thread reduces its range, the ranges are combined through shared memory, and
// each thread walks its range again with the combined carry. gla_finish_blocks (the tensor-core kernels): block
// by block, fully parallel.
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
