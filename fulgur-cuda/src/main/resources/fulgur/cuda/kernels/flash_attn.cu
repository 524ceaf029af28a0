// Softmax attention on tensor cores (the FlashAttention-2 algorithm), forward and backward, and decoding
// of one new token per sequence against a paged KV cache.
//
//   o_i = sum_j softmax_j(scale q_i . k_j) v_j      (per query head h; key/value head h / (H / Hkv))
//
// Layout [B, T, H, D] (last dim contiguous; batch, token and head strides are arguments), bf16 in and out,
// f32 accumulation. Causal masking aligns the last query with the last key (bottom-right): query i sees
// key j iff j <= i + (Tk - Tq). Packed sequences (varlen): B = 1 and cu_seqlens (i32 [N+1]) for queries and
// keys give each sequence's rows; one grid z-slice per sequence. The row log-sum-exp (natural log, of the
// scaled scores; -inf for a row that sees no key) is saved as f32 [B, H, Tq] for the backward.
//
// Kernels (HD, the head dim, fixed per module: -DHD=32|64|96|128|256):
//   fa_fwd        one CTA per (query block, head, batch); K and V tiles stream through shared memory
//                 (cp.async, double-buffered) with an online softmax in registers (exp2 domain).
//   fa_bwd_pre    delta_i = sum_d dO_i O_i per row.
//   fa_bwd        one CTA per (key block, kv head [, part of its query-head group], batch): each warp owns
//                 16 keys and accumulates their dK, dV in registers over every query block and every query
//                 head of its group; dQ goes through shared memory to an f32 accumulator (atomic adds).
//   fa_f32_to_bf16  dQ (and a split group's dK, dV) from the f32 accumulators.
//   fa_decode     one CTA per (split of the cache, kv head [, 16 query heads], sequence): the group's query
//                 heads are the 16 rows of the tensor-core tiles; 4 warps walk 16-token tiles of the pages
//                 named by the block table, each with its own double buffer, then merge.
//   fa_decode_combine  merges the splits of fa_decode.
//   fa_paged_append    writes new keys and values into their cache slots.
#include <cuda_bf16.h>
#include "mma_common.cuh"

#ifndef HD
#define HD 128
#endif
#if HD != 32 && HD != 64 && HD != 96 && HD != 128 && HD != 256
#error "flash_attn.cu: HD (head dim) must be 32, 64, 96, 128 or 256"
#endif

// shared-memory row width: swizzled tiles need 32, 64 or a multiple of 64 columns
#define HS (HD == 96 ? 128 : HD)
#define NCH (HD / 8)  // 16-byte chunks per row

#define NEG_INF (-__int_as_float(0x7f800000))
#define POS_INF (__int_as_float(0x7f800000))
#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

// ------------------------------------------------------------------------------------------------
// forward tiles: each warp owns 16 query rows
#ifndef FWD_QREGS
#define FWD_QREGS (HD <= 128)
#endif
#define FWD_WARPS (HD == 256 ? 4 : 8)
#define FWD_NT (FWD_WARPS * 32)
#define FWD_BM (16 * FWD_WARPS)
#define FWD_BN 64
#ifndef FWD_MINB
#define FWD_MINB (HD <= 64 ? 2 : 1)
#endif

// per-sequence bounds for a grid z-slice
struct SeqRange {
  int bt;      // batch index into the tensors (0 when packed)
  int qStart;  // first row of the sequence in the tensor's T dim
  int qLen;
  int kStart;
  int kLen;
};

static __device__ __forceinline__ SeqRange seq_range(int z, const int* cuQ, const int* cuK, int Tq, int Tk) {
  SeqRange s;
  if (cuQ) {
    s.bt = 0;
    s.qStart = cuQ[z];
    s.qLen = cuQ[z + 1] - s.qStart;
    s.kStart = cuK[z];
    s.kLen = cuK[z + 1] - s.kStart;
  } else {
    s.bt = z;
    s.qStart = 0;
    s.qLen = Tq;
    s.kStart = 0;
    s.kLen = Tk;
  }
  return s;
}

// Writes a warp's 16 x HD accumulator slab (bf16, multiplied by f0 for rows g, f1 for rows g + 8) through a
// warp-private swizzled staging tile with 16-byte stores; rows >= rows are skipped.
static __device__ __forceinline__ void store_rows16(char* stage, float (*acc)[4], float f0, float f1, bf16* gbase,
                                                    long long rowStride, int rows, int lane) {
  const int g = lane >> 2, t4 = lane & 3;
  __syncwarp();
#pragma unroll
  for (int nt = 0; nt < HD / 8; ++nt) {
    st_pair<HS>(stage, g, 8 * nt + 2 * t4, acc[nt][0] * f0, acc[nt][1] * f0);
    st_pair<HS>(stage, g + 8, 8 * nt + 2 * t4, acc[nt][2] * f1, acc[nt][3] * f1);
  }
  __syncwarp();
#pragma unroll
  for (int it = 0; it < (16 * NCH + 31) / 32; ++it) {
    int idx = it * 32 + lane;
    int r = idx / NCH, c = idx % NCH;
    if (r < 16 && r < rows) {
      uint4 val = *reinterpret_cast<const uint4*>(stage + swz<HS>(r, c));
      *reinterpret_cast<uint4*>(gbase + (long long)r * rowStride + c * 8) = val;
    }
  }
  __syncwarp();
}

extern "C" __global__ void __launch_bounds__(FWD_NT, FWD_MINB)
fa_fwd(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, bf16* __restrict__ o,
       float* __restrict__ lse, const int* __restrict__ cuQ, const int* __restrict__ cuK,
       long long qsb, long long qst, long long qsh, long long ksb, long long kst, long long ksh,
       long long vsb, long long vst, long long vsh, int Tq, int Tk, int H, int Hkv, float scaleLog2, int causal) {
  constexpr int BM = FWD_BM, BN = FWD_BN, NT = FWD_NT;
  constexpr int QB = BM * HS * 2, KB = BN * HS * 2;
  extern __shared__ __align__(128) char smem[];
  char* sQ = smem;
  char* sK = sQ + QB;      // [2][BN][HS]
  char* sV = sK + 2 * KB;  // [2][BN][HS]

  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const int h = blockIdx.y;
  const SeqRange sr = seq_range(blockIdx.z, cuQ, cuK, Tq, Tk);
  const int mBlocks = (sr.qLen + BM - 1) / BM;
  const int mb = causal ? (int)gridDim.x - 1 - (int)blockIdx.x : (int)blockIdx.x;  // longest rows first
  if (mb >= mBlocks) return;
  const int m0 = mb * BM;
  const int off = sr.kLen - sr.qLen;
  int nEnd = sr.kLen;
  if (causal) nEnd = min(sr.kLen, max(0, m0 + BM + off));
  const int nBlocks = (nEnd + BN - 1) / BN;
  const int hk = h / (H / Hkv);

  const bf16* qb = q + sr.bt * qsb + (long long)(sr.qStart + m0) * qst + h * qsh;
  const bf16* kb = k + sr.bt * ksb + (long long)sr.kStart * kst + hk * ksh;
  const bf16* vb = v + sr.bt * vsb + (long long)sr.kStart * vst + hk * vsh;
  const long long ost = (long long)H * HD;
  bf16* ob = o + ((long long)sr.bt * Tq + sr.qStart + m0) * ost + (long long)h * HD;
  float* lb = lse + ((long long)sr.bt * H + h) * Tq + sr.qStart + m0;

  const u32 aQ = smem_u32(sQ), aK0 = smem_u32(sK), aV0 = smem_u32(sV);
  load_rows<HS, BM, NCH, NT>(aQ, qb, qst, sr.qLen - m0, tid);
  if (nBlocks > 0) load_rows<HS, BN, NCH, NT>(aK0, kb, kst, sr.kLen, tid);
  cp_async_commit();
  if (nBlocks > 0) load_rows<HS, BN, NCH, NT>(aV0, vb, vst, sr.kLen, tid);
  cp_async_commit();

  const int i0 = m0 + 16 * w + g;  // this thread's rows i0 and i0 + 8 (in the sequence)
  float mrow[2] = {NEG_INF, NEG_INF}, lrow[2] = {0.f, 0.f};
  float oacc[HD / 8][4];
#pragma unroll
  for (int nt = 0; nt < HD / 8; ++nt)
#pragma unroll
    for (int c = 0; c < 4; ++c) oacc[nt][c] = 0.f;
#if FWD_QREGS
  u32 qa[HD / 16][4];
#endif

  for (int nb = 0; nb < nBlocks; ++nb) {
    const int stg = nb & 1, n0 = nb * BN;
    const u32 aK = aK0 + stg * KB, aV = aV0 + stg * KB;
    cp_async_wait<1>();  // K(nb) (and Q) landed
    __syncthreads();
#if FWD_QREGS
    if (nb == 0) {
#pragma unroll
      for (int kk = 0; kk < HD / 16; ++kk) ldsm4(qa[kk], addrA<HS>(aQ, 16 * w, 16 * kk, lane));
    }
#endif
    if (nb + 1 < nBlocks)
      load_rows<HS, BN, NCH, NT>(aK0 + (stg ^ 1) * KB, kb + (long long)(n0 + BN) * kst, kst, sr.kLen - n0 - BN, tid);
    cp_async_commit();

    // S = Q K^T (16 rows x BN keys per warp)
    float s[BN / 8][4];
#pragma unroll
    for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) s[nt][c] = 0.f;
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
#if FWD_QREGS
      const u32* a = qa[kk];
#else
      u32 a[4];
      ldsm4(a, addrA<HS>(aQ, 16 * w, 16 * kk, lane));
#endif
#pragma unroll
      for (int np = 0; np < BN / 16; ++np) {
        u32 bb[4];
        ldsm4(bb, addrB<HS>(aK, 16 * np, 16 * kk, lane));
        mma16816(s[2 * np], a, bb[0], bb[1]);
        mma16816(s[2 * np + 1], a, bb[2], bb[3]);
      }
    }
    if (n0 + BN > sr.kLen || (causal && n0 + BN - 1 > m0 + off)) {
#pragma unroll
      for (int nt = 0; nt < BN / 8; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) {
          const int j = n0 + 8 * nt + 2 * t4 + (c & 1), i = i0 + ((c & 2) ? 8 : 0);
          if (j >= sr.kLen || (causal && j > i + off)) s[nt][c] = NEG_INF;
        }
    }
    // online softmax in the exp2 domain (scores times scale * log2 e)
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = NEG_INF;
#pragma unroll
      for (int nt = 0; nt < BN / 8; ++nt) mx = fmaxf(mx, fmaxf(s[nt][2 * r], s[nt][2 * r + 1]));
      const float mnew = fmaxf(mrow[r], quad_max(mx) * scaleLog2);
      const float mref = mnew == NEG_INF ? 0.f : mnew;
      const float alpha = exp2f(mrow[r] - mref);
      mrow[r] = mnew;
      float sum = 0.f;
#pragma unroll
      for (int nt = 0; nt < BN / 8; ++nt) {
        s[nt][2 * r] = exp2f(fmaf(s[nt][2 * r], scaleLog2, -mref));
        s[nt][2 * r + 1] = exp2f(fmaf(s[nt][2 * r + 1], scaleLog2, -mref));
        sum += s[nt][2 * r] + s[nt][2 * r + 1];
      }
      lrow[r] = lrow[r] * alpha + sum;
#pragma unroll
      for (int nt = 0; nt < HD / 8; ++nt) {
        oacc[nt][2 * r] *= alpha;
        oacc[nt][2 * r + 1] *= alpha;
      }
    }

    cp_async_wait<1>();  // V(nb) landed
    __syncthreads();
    if (nb + 1 < nBlocks)
      load_rows<HS, BN, NCH, NT>(aV0 + (stg ^ 1) * KB, vb + (long long)(n0 + BN) * vst, vst, sr.kLen - n0 - BN, tid);
    cp_async_commit();

    // O += P V
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      u32 pa[4] = {pack_bf16(s[2 * kk][0], s[2 * kk][1]), pack_bf16(s[2 * kk][2], s[2 * kk][3]),
                   pack_bf16(s[2 * kk + 1][0], s[2 * kk + 1][1]), pack_bf16(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int np = 0; np < HD / 16; ++np) {
        u32 bb[4];
        ldsm4t(bb, addrBT<HS>(aV, 16 * np, 16 * kk, lane));
        mma16816(oacc[2 * np], pa, bb[0], bb[1]);
        mma16816(oacc[2 * np + 1], pa, bb[2], bb[3]);
      }
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // Q tile free (and with no key block, its loads done) for staging

  float inv[2], lrowv[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_sum(lrow[r]);
    lrowv[r] = l > 0.f ? (mrow[r] + log2f(l)) * LN2 : NEG_INF;
    inv[r] = l > 0.f ? 1.f / l : 0.f;
  }
  const int rows = min(16, sr.qLen - m0 - 16 * w);
  store_rows16(sQ + 16 * w * HS * 2, oacc, inv[0], inv[1], ob + (long long)16 * w * ost, ost, rows, lane);
  if (t4 == 0) {
    if (g < rows) lb[16 * w + g] = lrowv[0];
    if (g + 8 < rows) lb[16 * w + g + 8] = lrowv[1];
  }
}

// ------------------------------------------------------------------------------------------------
// backward

// delta[b,h,i] = sum_d dO[b,i,h,d] * O[b,i,h,d]: one warp per (row, head), rows = B * Tq (packed: Tq = total)
extern "C" __global__ void fa_bwd_pre(const bf16* __restrict__ o, const bf16* __restrict__ dout, float* __restrict__ delta,
                                      long long osb, long long ost, long long osh, long long dsb, long long dst,
                                      long long dsh, int B, int Tq, int H) {
  const int lane = threadIdx.x & 31;
  const long long nRows = (long long)B * Tq * H;
  for (long long row = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5; row < nRows;
       row += ((long long)gridDim.x * blockDim.x) >> 5) {
    const int h = (int)(row % H);
    const long long bt = row / H;
    const int b = (int)(bt / Tq), i = (int)(bt % Tq);
    float acc = 0.f;
    for (int c = lane; c < NCH; c += 32) {
      uint4 a = *reinterpret_cast<const uint4*>(o + b * osb + i * ost + h * osh + c * 8);
      uint4 d = *reinterpret_cast<const uint4*>(dout + b * dsb + i * dst + h * dsh + c * 8);
      const u32 av[4] = {a.x, a.y, a.z, a.w}, dv[4] = {d.x, d.y, d.z, d.w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float2 x = unpack_bf16(av[e]), y = unpack_bf16(dv[e]);
        acc = fmaf(x.x, y.x, fmaf(x.y, y.y, acc));
      }
    }
#pragma unroll
    for (int m = 16; m > 0; m >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, m);
    if (lane == 0) delta[((long long)b * H + h) * Tq + i] = acc;
  }
}

// out[i] = bf16(in[i] * mul), n a multiple of 4
extern "C" __global__ void fa_f32_to_bf16(const float* __restrict__ in, bf16* __restrict__ out, long long n, float mul) {
  for (long long i = (blockIdx.x * (long long)blockDim.x + threadIdx.x) * 4; i < n; i += (long long)gridDim.x * blockDim.x * 4) {
    float4 x = *reinterpret_cast<const float4*>(in + i);
    uint2 y = make_uint2(pack_bf16(x.x * mul, x.y * mul), pack_bf16(x.z * mul, x.w * mul));
    *reinterpret_cast<uint2*>(out + i) = y;
  }
}

#define BWD_WARPS 8
#define BWD_NT (BWD_WARPS * 32)
#define BWD_BN (16 * BWD_WARPS)  // keys per CTA: 16 per warp
#ifndef BWD_BM
#define BWD_BM 64  // queries per step
#endif
#ifndef BWD_MINB
#define BWD_MINB 1
#endif

static __device__ __forceinline__ void atomic_add2(float* p, float x, float y) {
#if __CUDA_ARCH__ >= 900
  atomicAdd(reinterpret_cast<float2*>(p), make_float2(x, y));
#else
  atomicAdd(p, x);
  atomicAdd(p + 1, y);
#endif
}

#if HD <= 128
// dq_acc: f32 [B, Tq, H, HD], zeroed; gets dS K (unscaled). dk, dv: bf16 [B, Tk, Hkv, HD] written directly when one
// CTA covers a whole query-head group (headsPerCta == H / Hkv); otherwise dk_acc, dv_acc (f32, zeroed) get atomic
// adds. dK is scaled here (dK = scale dS^T Q); dQ's scale is applied by fa_f32_to_bf16.
extern "C" __global__ void __launch_bounds__(BWD_NT, BWD_MINB)
fa_bwd(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, const bf16* __restrict__ dout,
       const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dqAcc, bf16* __restrict__ dk,
       bf16* __restrict__ dv, float* __restrict__ dkAcc, float* __restrict__ dvAcc, const int* __restrict__ cuQ,
       const int* __restrict__ cuK, long long qsb, long long qst, long long qsh, long long ksb, long long kst,
       long long ksh, long long vsb, long long vst, long long vsh, long long dsb, long long dst, long long dsh, int Tq,
       int Tk, int H, int Hkv, int headsPerCta, float scale, float scaleLog2, int causal) {
  constexpr int BM = BWD_BM, BN = BWD_BN, NT = BWD_NT;
  constexpr int KB = BN * HS * 2, QB = BM * HS * 2;
  extern __shared__ __align__(128) char smem[];
  char* sK = smem;
  char* sV = sK + KB;
  char* sQ = sV + KB;                     // [2][BM][HS]
  char* sO = sQ + 2 * QB;                 // dO [2][BM][HS]
  char* sS = sO + 2 * QB;                 // dS^T [BN][BM]
  float* sL = reinterpret_cast<float*>(sS + BN * BM * 2);  // [2][BM] lse * log2 e (+inf: no probability)
  float* sD = sL + 2 * BM;                                 // [2][BM] delta

  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const SeqRange sr = seq_range(blockIdx.z, cuQ, cuK, Tq, Tk);
  const int n0 = blockIdx.x * BN;
  if (n0 >= sr.kLen) return;
  const int group = H / Hkv, parts = group / headsPerCta;
  const int hk = blockIdx.y / parts, hBase = hk * group + (blockIdx.y % parts) * headsPerCta;
  const int off = sr.kLen - sr.qLen;
  const int mStart = causal ? max(0, n0 - off) / BM : 0;
  const int mEnd = (sr.qLen + BM - 1) / BM;
  const int nmb = max(0, mEnd - mStart);
  const int nSteps = nmb * headsPerCta;

  const u32 aK = smem_u32(sK), aV = smem_u32(sV), aQ0 = smem_u32(sQ), aO0 = smem_u32(sO), aS = smem_u32(sS);
  load_rows<HS, BN, NCH, NT>(aK, k + sr.bt * ksb + (long long)(sr.kStart + n0) * kst + hk * ksh, kst, sr.kLen - n0, tid);
  load_rows<HS, BN, NCH, NT>(aV, v + sr.bt * vsb + (long long)(sr.kStart + n0) * vst + hk * vsh, vst, sr.kLen - n0, tid);

  auto prefetch = [&](int step, int stg) {
    const int h = hBase + step / nmb, m0 = (mStart + step % nmb) * BM;
    const long long row0 = sr.qStart + m0;
    load_rows<HS, BM, NCH, NT>(aQ0 + stg * QB, q + sr.bt * qsb + row0 * qst + h * qsh, qst, sr.qLen - m0, tid);
    load_rows<HS, BM, NCH, NT>(aO0 + stg * QB, dout + sr.bt * dsb + row0 * dst + h * dsh, dst, sr.qLen - m0, tid);
    if (tid < BM) {
      const long long li = ((long long)sr.bt * H + h) * Tq + row0 + tid;
      const bool ok = m0 + tid < sr.qLen;
      const float l = ok ? lse[li] : NEG_INF;
      sL[stg * BM + tid] = l == NEG_INF ? POS_INF : l * LOG2E;
      sD[stg * BM + tid] = ok ? delta[li] : 0.f;
    }
  };
  if (nSteps > 0) prefetch(0, 0);
  cp_async_commit();

  float dkacc[HD / 8][4], dvacc[HD / 8][4];
#pragma unroll
  for (int nt = 0; nt < HD / 8; ++nt)
#pragma unroll
    for (int c = 0; c < 4; ++c) dkacc[nt][c] = dvacc[nt][c] = 0.f;
  const int key0 = n0 + 16 * w + g;  // this thread's keys key0 and key0 + 8 (in the sequence)
  // dQ tile of this warp: rows 16 * (w % (BM/16)), columns (w / (BM/16)) * QCOLS ..
  constexpr int MT = BM / 16, QCOLS = HD / (BWD_WARPS / MT);
  const int qm = w % MT, qc0 = (w / MT) * QCOLS;

  for (int step = 0; step < nSteps; ++step) {
    const int stg = step & 1;
    const int h = hBase + step / nmb, m0 = (mStart + step % nmb) * BM;
    const u32 aQ = aQ0 + stg * QB, aO = aO0 + stg * QB;
    const float* L = sL + stg * BM;
    const float* Dl = sD + stg * BM;
    cp_async_wait<0>();
    __syncthreads();
    if (step + 1 < nSteps) prefetch(step + 1, stg ^ 1);
    cp_async_commit();

    // S^T = K Q^T: this warp's 16 keys x BM queries
    float st[BM / 8][4];
#pragma unroll
    for (int nt = 0; nt < BM / 8; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) st[nt][c] = 0.f;
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
      u32 a[4];
      ldsm4(a, addrA<HS>(aK, 16 * w, 16 * kk, lane));
#pragma unroll
      for (int np = 0; np < BM / 16; ++np) {
        u32 bb[4];
        ldsm4(bb, addrB<HS>(aQ, 16 * np, 16 * kk, lane));
        mma16816(st[2 * np], a, bb[0], bb[1]);
        mma16816(st[2 * np + 1], a, bb[2], bb[3]);
      }
    }
    // P^T = exp(scale S^T - lse): zero for masked pairs, keys past the sequence and queries without a row
    const bool mask = n0 + BN > sr.kLen || (causal && n0 + BN - 1 > m0 + off);
#pragma unroll
    for (int nt = 0; nt < BM / 8; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int j = 8 * nt + 2 * t4 + (c & 1);
        float p = exp2f(fmaf(st[nt][c], scaleLog2, -L[j]));
        if (mask) {
          const int key = key0 + ((c & 2) ? 8 : 0);
          if (key >= sr.kLen || (causal && key > m0 + j + off)) p = 0.f;
        }
        st[nt][c] = p;
      }
    // P^T in bf16 (A fragments; dS below uses the same rounded P); dV += P^T dO
    u32 pp[BM / 16][4];
#pragma unroll
    for (int kk = 0; kk < BM / 16; ++kk) {
      pp[kk][0] = pack_bf16(st[2 * kk][0], st[2 * kk][1]);
      pp[kk][1] = pack_bf16(st[2 * kk][2], st[2 * kk][3]);
      pp[kk][2] = pack_bf16(st[2 * kk + 1][0], st[2 * kk + 1][1]);
      pp[kk][3] = pack_bf16(st[2 * kk + 1][2], st[2 * kk + 1][3]);
#pragma unroll
      for (int np = 0; np < HD / 16; ++np) {
        u32 bb[4];
        ldsm4t(bb, addrBT<HS>(aO, 16 * np, 16 * kk, lane));
        mma16816(dvacc[2 * np], pp[kk], bb[0], bb[1]);
        mma16816(dvacc[2 * np + 1], pp[kk], bb[2], bb[3]);
      }
    }
    // dP^T = V dO^T
    float dp[BM / 8][4];
#pragma unroll
    for (int nt = 0; nt < BM / 8; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) dp[nt][c] = 0.f;
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
      u32 a[4];
      ldsm4(a, addrA<HS>(aV, 16 * w, 16 * kk, lane));
#pragma unroll
      for (int np = 0; np < BM / 16; ++np) {
        u32 bb[4];
        ldsm4(bb, addrB<HS>(aO, 16 * np, 16 * kk, lane));
        mma16816(dp[2 * np], a, bb[0], bb[1]);
        mma16816(dp[2 * np + 1], a, bb[2], bb[3]);
      }
    }
    // dS^T = P^T (dP^T - delta)
#pragma unroll
    for (int nt = 0; nt < BM / 8; ++nt) {
      const float2 p01 = unpack_bf16(pp[nt >> 1][(nt & 1) * 2]), p23 = unpack_bf16(pp[nt >> 1][(nt & 1) * 2 + 1]);
      const float* dl = Dl + 8 * nt + 2 * t4;
      dp[nt][0] = p01.x * (dp[nt][0] - dl[0]);
      dp[nt][1] = p01.y * (dp[nt][1] - dl[1]);
      dp[nt][2] = p23.x * (dp[nt][2] - dl[0]);
      dp[nt][3] = p23.y * (dp[nt][3] - dl[1]);
    }
    // dK += dS^T Q; dS^T to shared memory for dQ
#pragma unroll
    for (int kk = 0; kk < BM / 16; ++kk) {
      u32 da[4] = {pack_bf16(dp[2 * kk][0], dp[2 * kk][1]), pack_bf16(dp[2 * kk][2], dp[2 * kk][3]),
                   pack_bf16(dp[2 * kk + 1][0], dp[2 * kk + 1][1]), pack_bf16(dp[2 * kk + 1][2], dp[2 * kk + 1][3])};
      const int r = 16 * w + g, c = 16 * kk + 2 * t4;
      *reinterpret_cast<u32*>(sS + swz<BM>(r, c >> 3) + (c & 7) * 2) = da[0];
      *reinterpret_cast<u32*>(sS + swz<BM>(r + 8, c >> 3) + (c & 7) * 2) = da[1];
      *reinterpret_cast<u32*>(sS + swz<BM>(r, (c + 8) >> 3) + (c & 7) * 2) = da[2];
      *reinterpret_cast<u32*>(sS + swz<BM>(r + 8, (c + 8) >> 3) + (c & 7) * 2) = da[3];
#pragma unroll
      for (int np = 0; np < HD / 16; ++np) {
        u32 bb[4];
        ldsm4t(bb, addrBT<HS>(aQ, 16 * np, 16 * kk, lane));
        mma16816(dkacc[2 * np], da, bb[0], bb[1]);
        mma16816(dkacc[2 * np + 1], da, bb[2], bb[3]);
      }
    }
    __syncthreads();
    // dQ (BM x HD) += dS K: this warp's 16 rows x QCOLS columns, then f32 atomic adds
    {
      float dq[QCOLS / 8][4];
#pragma unroll
      for (int nt = 0; nt < QCOLS / 8; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c) dq[nt][c] = 0.f;
#pragma unroll
      for (int kk = 0; kk < BN / 16; ++kk) {
        u32 a[4];
        ldsm4t(a, addrAT<BM>(aS, 16 * qm, 16 * kk, lane));
#pragma unroll
        for (int np = 0; np < QCOLS / 16; ++np) {
          u32 bb[4];
          ldsm4t(bb, addrBT<HS>(aK, qc0 + 16 * np, 16 * kk, lane));
          mma16816(dq[2 * np], a, bb[0], bb[1]);
          mma16816(dq[2 * np + 1], a, bb[2], bb[3]);
        }
      }
      const int r0 = m0 + 16 * qm + g;
      float* base = dqAcc + (((long long)sr.bt * Tq + sr.qStart) * H + h) * HD;
      const long long rs = (long long)H * HD;
#pragma unroll
      for (int nt = 0; nt < QCOLS / 8; ++nt) {
        const int col = qc0 + 8 * nt + 2 * t4;
        if (r0 < sr.qLen) atomic_add2(base + r0 * rs + col, dq[nt][0], dq[nt][1]);
        if (r0 + 8 < sr.qLen) atomic_add2(base + (r0 + 8) * rs + col, dq[nt][2], dq[nt][3]);
      }
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // every warp is done with K and V: their rows become staging space

  const int rows = min(16, sr.kLen - n0 - 16 * w);
  const long long rs = (long long)Hkv * HD;
  const long long kv0 = ((long long)sr.bt * Tk + sr.kStart + n0 + 16 * w) * rs + (long long)hk * HD;
  if (headsPerCta == group) {
    store_rows16(sK + 16 * w * HS * 2, dkacc, scale, scale, dk + kv0, rs, rows, lane);
    store_rows16(sV + 16 * w * HS * 2, dvacc, 1.f, 1.f, dv + kv0, rs, rows, lane);
  } else {
#pragma unroll
    for (int nt = 0; nt < HD / 8; ++nt) {
      const int col = 8 * nt + 2 * t4;
      if (g < rows) {
        atomic_add2(dkAcc + kv0 + g * rs + col, dkacc[nt][0] * scale, dkacc[nt][1] * scale);
        atomic_add2(dvAcc + kv0 + g * rs + col, dvacc[nt][0], dvacc[nt][1]);
      }
      if (g + 8 < rows) {
        atomic_add2(dkAcc + kv0 + (g + 8) * rs + col, dkacc[nt][2] * scale, dkacc[nt][3] * scale);
        atomic_add2(dvAcc + kv0 + (g + 8) * rs + col, dvacc[nt][2], dvacc[nt][3]);
      }
    }
  }
}
#endif

// ------------------------------------------------------------------------------------------------
// decoding: one query token per sequence against a paged cache [blocks, blockSize, Hkv, HD]
#define DEC_WARPS 4
#define DEC_NT (DEC_WARPS * 32)
#define DEC_QREGS (HD <= 128)

// One CTA per (split, kv head x 16-row group of its query heads, sequence). seqLens[n] tokens are cached (the new
// token's key and value included); split s covers tokens [s * splitLen, (s+1) * splitLen). With one split the
// result goes to o (bf16 [N, H, HD]) and lse (f32 [N, H], may be null); otherwise to partO (f32
// [splits, N, H, HD], normalised per split) and partL (f32 [splits, N, H]) for fa_decode_combine.
extern "C" __global__ void __launch_bounds__(DEC_NT)
fa_decode(const bf16* __restrict__ q, const bf16* __restrict__ kc, const bf16* __restrict__ vc,
          const int* __restrict__ blockTable, const int* __restrict__ seqLens, bf16* __restrict__ o,
          float* __restrict__ lse, float* __restrict__ partO, float* __restrict__ partL, int N, int H, int Hkv,
          int blockSize, int maxBlocks, int splitLen, float scaleLog2, long long kcb, long long kct, long long kch,
          long long vcb, long long vct, long long vch) {
  constexpr int TB = 16 * HS * 2;  // one 16-token tile
  extern __shared__ __align__(128) char smem[];
  char* sQ = smem;       // [16][HS]
  char* sT = sQ + TB;    // per warp: [2 stages][K, V][16][HS]

  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const int n = blockIdx.z, split = blockIdx.x;
  const int group = H / Hkv, rowGroups = (group + 15) / 16;
  const int hk = blockIdx.y / rowGroups, rg = blockIdx.y % rowGroups;
  const int h0 = hk * group + rg * 16, rows = min(16, group - rg * 16);
  const int len = min(seqLens[n], maxBlocks * blockSize);
  const int sBeg = split * splitLen, sEnd = min(len, sBeg + splitLen);
  const int* table = blockTable + (long long)n * maxBlocks;

  const u32 aQ = smem_u32(sQ), aT = smem_u32(sT) + w * 4 * TB;
  load_rows<HS, 16, NCH, DEC_NT>(aQ, q + ((long long)n * H + h0) * HD, HD, rows, tid);
  cp_async_commit();
  auto loadTile = [&](int tile, int stg) {
    const int tok0 = sBeg + 16 * tile;
    const long long page = table[tok0 / blockSize];
    const int r0 = tok0 % blockSize;
    load_rows<HS, 16, NCH, 32>(aT + (2 * stg) * TB, kc + page * kcb + r0 * kct + hk * kch, kct, sEnd - tok0, lane);
    load_rows<HS, 16, NCH, 32>(aT + (2 * stg + 1) * TB, vc + page * vcb + r0 * vct + hk * vch, vct, sEnd - tok0, lane);
  };
  if (sBeg + 16 * w < sEnd) loadTile(w, 0);
  cp_async_commit();
  cp_async_wait<1>();
  __syncthreads();
#if DEC_QREGS
  u32 qa[HD / 16][4];
#pragma unroll
  for (int kk = 0; kk < HD / 16; ++kk) ldsm4(qa[kk], addrA<HS>(aQ, 0, 16 * kk, lane));
#endif

  float mrow[2] = {NEG_INF, NEG_INF}, lrow[2] = {0.f, 0.f};
  float oacc[HD / 8][4];
#pragma unroll
  for (int nt = 0; nt < HD / 8; ++nt)
#pragma unroll
    for (int c = 0; c < 4; ++c) oacc[nt][c] = 0.f;

  for (int it = 0;; ++it) {
    const int tile = w + DEC_WARPS * it, tok0 = sBeg + 16 * tile;
    if (tok0 >= sEnd) break;
    const int stg = it & 1;
    __syncwarp();
    if (tok0 + 16 * DEC_WARPS < sEnd) loadTile(tile + DEC_WARPS, stg ^ 1);
    cp_async_commit();
    cp_async_wait<1>();
    __syncwarp();
    const u32 aK = aT + (2 * stg) * TB, aV = aK + TB;
    float s[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
#if DEC_QREGS
      const u32* a = qa[kk];
#else
      u32 a[4];
      ldsm4(a, addrA<HS>(aQ, 0, 16 * kk, lane));
#endif
      u32 bb[4];
      ldsm4(bb, addrB<HS>(aK, 0, 16 * kk, lane));
      mma16816(s[0], a, bb[0], bb[1]);
      mma16816(s[1], a, bb[2], bb[3]);
    }
    if (tok0 + 16 > sEnd) {
#pragma unroll
      for (int nt = 0; nt < 2; ++nt)
#pragma unroll
        for (int c = 0; c < 4; ++c)
          if (tok0 + 8 * nt + 2 * t4 + (c & 1) >= sEnd) s[nt][c] = NEG_INF;
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float mx = fmaxf(fmaxf(s[0][2 * r], s[0][2 * r + 1]), fmaxf(s[1][2 * r], s[1][2 * r + 1]));
      const float mnew = fmaxf(mrow[r], quad_max(mx) * scaleLog2);
      const float mref = mnew == NEG_INF ? 0.f : mnew;
      const float alpha = exp2f(mrow[r] - mref);
      mrow[r] = mnew;
      float sum = 0.f;
#pragma unroll
      for (int nt = 0; nt < 2; ++nt) {
        s[nt][2 * r] = exp2f(fmaf(s[nt][2 * r], scaleLog2, -mref));
        s[nt][2 * r + 1] = exp2f(fmaf(s[nt][2 * r + 1], scaleLog2, -mref));
        sum += s[nt][2 * r] + s[nt][2 * r + 1];
      }
      lrow[r] = lrow[r] * alpha + sum;
#pragma unroll
      for (int nt = 0; nt < HD / 8; ++nt) {
        oacc[nt][2 * r] *= alpha;
        oacc[nt][2 * r + 1] *= alpha;
      }
    }
    u32 pa[4] = {pack_bf16(s[0][0], s[0][1]), pack_bf16(s[0][2], s[0][3]), pack_bf16(s[1][0], s[1][1]),
                 pack_bf16(s[1][2], s[1][3])};
#pragma unroll
    for (int np = 0; np < HD / 16; ++np) {
      u32 bb[4];
      ldsm4t(bb, addrBT<HS>(aV, 16 * np, 0, lane));
      mma16816(oacc[2 * np], pa, bb[0], bb[1]);
      mma16816(oacc[2 * np + 1], pa, bb[2], bb[3]);
    }
  }
  cp_async_wait<0>();
  __syncthreads();  // tiles free: merge the warps' (max, sum, O) through shared memory

  float* mO = reinterpret_cast<float*>(sT);        // [DEC_WARPS][16][HD] unnormalised O
  float* mM = mO + DEC_WARPS * 16 * HD;             // [DEC_WARPS][16]
  float* mL = mM + DEC_WARPS * 16;                  // [DEC_WARPS][16]
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_sum(lrow[r]);
    if (t4 == 0) {
      mM[w * 16 + g + 8 * r] = mrow[r];
      mL[w * 16 + g + 8 * r] = l;
    }
  }
#pragma unroll
  for (int nt = 0; nt < HD / 8; ++nt) {
    const int col = 8 * nt + 2 * t4;
    *reinterpret_cast<float2*>(mO + (w * 16 + g) * HD + col) = make_float2(oacc[nt][0], oacc[nt][1]);
    *reinterpret_cast<float2*>(mO + (w * 16 + g + 8) * HD + col) = make_float2(oacc[nt][2], oacc[nt][3]);
  }
  __syncthreads();
  const bool single = gridDim.x == 1;
  for (int idx = tid; idx < rows * HD; idx += DEC_NT) {
    const int r = idx / HD, d = idx % HD;
    float M = NEG_INF;
#pragma unroll
    for (int ww = 0; ww < DEC_WARPS; ++ww) M = fmaxf(M, mM[ww * 16 + r]);
    const float mref = M == NEG_INF ? 0.f : M;
    float l = 0.f, acc = 0.f;
#pragma unroll
    for (int ww = 0; ww < DEC_WARPS; ++ww) {
      const float f = exp2f(mM[ww * 16 + r] - mref);
      l += f * mL[ww * 16 + r];
      acc += f * mO[(ww * 16 + r) * HD + d];
    }
    const float val = l > 0.f ? acc / l : 0.f;
    const float lv = l > 0.f ? (M + log2f(l)) * LN2 : NEG_INF;
    const long long row = (long long)n * H + h0 + r;
    if (single) {
      o[row * HD + d] = __float2bfloat16(val);
      if (lse && d == 0) lse[row] = lv;
    } else {
      const long long prow = (long long)split * N * H + row;
      partO[prow * HD + d] = val;
      if (d == 0) partL[prow] = lv;
    }
  }
}

// o[n,h,:] = sum_s exp(lse_s - lse) partO[s,n,h,:], lse = log sum_s exp(lse_s); one block per (n, h)
extern "C" __global__ void fa_decode_combine(const float* __restrict__ partO, const float* __restrict__ partL,
                                             bf16* __restrict__ o, float* __restrict__ lse, int N, int H, int splits) {
  const long long row = blockIdx.x;
  const long long rowsAll = (long long)N * H;
  float M = NEG_INF;
  for (int s = 0; s < splits; ++s) M = fmaxf(M, partL[s * rowsAll + row]);
  const float mref = M == NEG_INF ? 0.f : M;
  float l = 0.f;
  for (int s = 0; s < splits; ++s) l += __expf(partL[s * rowsAll + row] - mref);
  const float inv = l > 0.f ? 1.f / l : 0.f;
  for (int d = threadIdx.x; d < HD; d += blockDim.x) {
    float acc = 0.f;
    for (int s = 0; s < splits; ++s) {
      const float f = __expf(partL[s * rowsAll + row] - mref);
      if (f > 0.f) acc += f * partO[(s * rowsAll + row) * HD + d];
    }
    o[row * HD + d] = __float2bfloat16(acc * inv);
  }
  if (lse && threadIdx.x == 0) lse[row] = l > 0.f ? M + logf(l) : NEG_INF;
}

// kCache[page, pos % blockSize, h, :] = kNew[n, h, :] (and the same for v) with page = blockTable[n, pos / blockSize],
// pos = positions[n]; sequences with pos < 0 are skipped. One thread per 16-byte chunk.
extern "C" __global__ void fa_paged_append(const bf16* __restrict__ kNew, const bf16* __restrict__ vNew,
                                           bf16* __restrict__ kc, bf16* __restrict__ vc,
                                           const int* __restrict__ blockTable, const int* __restrict__ positions,
                                           int N, int Hkv, int blockSize, int maxBlocks, long long kcb, long long kct,
                                           long long kch, long long vcb, long long vct, long long vch) {
  const long long total = (long long)N * Hkv * NCH;
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < total; i += (long long)gridDim.x * blockDim.x) {
    const int c = (int)(i % NCH);
    const long long nh = i / NCH;
    const int h = (int)(nh % Hkv), n = (int)(nh / Hkv);
    const int pos = positions[n];
    if (pos < 0 || pos / blockSize >= maxBlocks) continue;
    const long long page = blockTable[(long long)n * maxBlocks + pos / blockSize];
    const int r = pos % blockSize;
    *reinterpret_cast<uint4*>(kc + page * kcb + r * kct + h * kch + c * 8) =
        *reinterpret_cast<const uint4*>(kNew + nh * HD + c * 8);
    *reinterpret_cast<uint4*>(vc + page * vcb + r * vct + h * vch + c * 8) =
        *reinterpret_cast<const uint4*>(vNew + nh * HD + c * 8);
  }
}
