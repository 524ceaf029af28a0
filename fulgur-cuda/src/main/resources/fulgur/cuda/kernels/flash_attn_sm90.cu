// Softmax attention on Hopper warpgroup MMAs (the FlashAttention-3 design), forward and backward: the sm_90a path of
// flash_attn.cu (same arguments, layouts, masks and outputs; see there for the math and the layout). Head dims 64 and
// 128 (-DHD=64|128). Built for every target, but the kernels have bodies only on sm_90a (wgmma, setmaxnreg); the
// launcher picks them on compute capability 9.0 only.
//
//   fa90_fwd  one CTA per (F90_WG x 64 query rows, head, batch or packed sequence): a producer warpgroup streams Q
//             once and the K and V tiles of 128 keys (cp.async into 128B-swizzled tiles, F90_STAGES deep, full and
//             empty mbarriers per stage); F90_WG consumer warpgroups of 64 rows each compute S = Q K^T (wgmma, both
//             operands from shared memory), the online softmax in registers (exp2 domain), and O += P V with P from
//             registers. With F90_OVERLAP the softmax of block j runs while the tensor cores do P V of block j - 1
//             (two score tiles in flight); with F90_PINGPONG the warpgroups take turns issuing their products
//             (named barriers), so one's softmax overlaps the other's matrix work.
//   fa90_bwd  one CTA per (128 keys, kv head [, part of its query-head group], batch), two warpgroups of 64 keys:
//             per step of B90_BM queries S^T = K Q^T and dP^T = V dO^T (shared x shared), P^T and dS^T in registers,
//             dV += P^T dO and dK += dS^T Q (registers x shared), dS^T to shared memory, dQ = dS K (shared x shared,
//             the warpgroups split it), dQ staged in f32 and added to the f32 accumulator by bulk reductions (one
//             cp.reduce.async.bulk per row, double-buffered). Q, dO, lse and delta are double-buffered with cp.async.
//             dK, dV of grouped-query heads are summed in registers over the group (or, split over CTAs, in f32).
#include <cuda_bf16.h>
#include "mma_common.cuh"
#include "wgmma.cuh"

#ifndef HD
#define HD 128
#endif
#if HD != 64 && HD != 128
#error "flash_attn_sm90.cu: HD (head dim) must be 64 or 128"
#endif
#define NCH (HD / 8)  // 16-byte chunks per row

#define NEG_INF (-__int_as_float(0x7f800000))
#define POS_INF (__int_as_float(0x7f800000))
#define LN2 0.6931471805599453f
#define LOG2E 1.4426950408889634f

// ------------------------------------------------------------------------------------------------
// forward configuration
#ifndef F90_WG
#define F90_WG 2  // consumer warpgroups
#endif
#ifndef F90_STAGES
#define F90_STAGES 2
#endif
#ifndef F90_OVERLAP
#define F90_OVERLAP 1
#endif
#ifndef F90_PINGPONG
#define F90_PINGPONG 1
#endif
#define F90_BM (64 * F90_WG)
#define F90_BN 128
#define F90_NT (128 * (F90_WG + 1))
// registers per thread after setmaxnreg: producer / consumers (128 x LOAD + 128 x WG x MMA <= 64K)
#if F90_WG == 2
#define F90_REG_LOAD 40
#define F90_REG_MMA 232
#elif F90_WG == 3
#define F90_REG_LOAD 32
#define F90_REG_MMA 160
#else
#error "F90_WG (consumer warpgroups) must be 2 or 3"
#endif

// backward configuration
#define B90_BN 128                       // keys per CTA: 64 per warpgroup
#define B90_BM (HD == 64 ? 128 : 64)     // queries per step
#define B90_NT 256
#define B90_DQP (HD + 8)                 // f32 row pitch of the dQ staging tile (conflict-free float2 stores)

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)

struct SeqRange {
  int bt, qStart, qLen, kStart, kLen;
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

static __device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// Copies ROWS rows of HD columns (rows at and past rEnd zero-filled) from a strided bf16 matrix into a wg tile of
// ROWS rows, NTHR threads cooperating (thread t), 16 bytes per cp.async. A thread keeps one 16-byte column chunk and
// steps down the rows by a multiple of 8, so its swizzle is fixed and its addresses advance by constants.
template <int ROWS, int NTHR>
static __device__ __forceinline__ void load_wg_tile(u32 s, const bf16* g, long long rowStride, int rEnd, int t) {
  constexpr int RSTEP = NTHR / NCH;
  static_assert(RSTEP % 8 == 0 && ROWS % RSTEP == 0, "rows per pass must keep the swizzle phase");
  const int c = t % NCH, r0 = t / NCH;
  const bf16* src = g + (long long)r0 * rowStride + c * 8;
  const u32 dst = s + wg_off<ROWS>(r0, c);
#pragma unroll
  for (int it = 0; it < ROWS / RSTEP; ++it) {
    const bool ok = r0 + it * RSTEP < rEnd;
    cp_async16(dst + it * RSTEP * 128, ok ? src : g, ok ? 16 : 0);
    src += RSTEP * rowStride;
  }
}

// Writes a warp's 16 x HD f32 accumulator rows (times f0 for rows g, f1 for rows g + 8) as bf16 through rows
// r0..r0+15 of a wg tile of ROWS rows (free for this warp), then 16-byte stores of the first `rows` rows.
template <int ROWS>
static __device__ __forceinline__ void store_rows16_wg(char* tile, int r0, const float* acc, float f0, float f1, bf16* gbase,
                                                       long long rowStride, int rows, int lane) {
  const int g = lane >> 2, t4 = lane & 3;
  __syncwarp();
#pragma unroll
  for (int j = 0; j < HD / 8; ++j) {
    *reinterpret_cast<u32*>(tile + wg_off<ROWS>(r0 + g, j) + 4 * t4) = pack_bf16(acc[4 * j] * f0, acc[4 * j + 1] * f0);
    *reinterpret_cast<u32*>(tile + wg_off<ROWS>(r0 + g + 8, j) + 4 * t4) = pack_bf16(acc[4 * j + 2] * f1, acc[4 * j + 3] * f1);
  }
  __syncwarp();
#pragma unroll
  for (int it = 0; it < 16 * NCH / 32; ++it) {
    const int idx = it * 32 + lane, r = idx / NCH, c = idx % NCH;
    if (r < rows) {
      *reinterpret_cast<uint4*>(gbase + (long long)r * rowStride + c * 8) =
          *reinterpret_cast<const uint4*>(tile + wg_off<ROWS>(r0 + r, c));
    }
  }
  __syncwarp();
}

// accumulator tile (64 x N) -> bf16 A fragments of the next product, k16 slice kk from n8 tiles 2kk and 2kk + 1
template <int N>
static __device__ __forceinline__ void acc_to_frags(const float* s, u32 (*p)[4]) {
#pragma unroll
  for (int kk = 0; kk < N / 16; ++kk) {
    p[kk][0] = pack_bf16(s[8 * kk], s[8 * kk + 1]);
    p[kk][1] = pack_bf16(s[8 * kk + 2], s[8 * kk + 3]);
    p[kk][2] = pack_bf16(s[8 * kk + 4], s[8 * kk + 5]);
    p[kk][3] = pack_bf16(s[8 * kk + 6], s[8 * kk + 7]);
  }
}

static __device__ __forceinline__ void warp_arrive(u32 bar, int lane) {
  __syncwarp();
  if (lane == 0) mbar_arrive(bar);
}

// ---------------------------------------------------------------------------------------------- forward pieces
// S = Q K^T for this warpgroup's 64 rows against one K stage (issued, not committed)
static __device__ __forceinline__ void fwd_qk(float* s, u64 dQ, u64 dK) {
#pragma unroll
  for (int kk = 0; kk < HD / 16; ++kk) {
    wgmma_ss<F90_BN, 0, 0>(s, wg_desc_add(dQ, (kk >> 2) * (F90_BM * 128) + (kk & 3) * 32),
                           wg_desc_add(dK, (kk >> 2) * (F90_BN * 128) + (kk & 3) * 32), kk > 0);
  }
}
// O += P V (issued, not committed)
static __device__ __forceinline__ void fwd_pv(float* o, u32 (*p)[4], u64 dV) {
#pragma unroll
  for (int kk = 0; kk < F90_BN / 16; ++kk) wgmma_rs<HD, 1>(o, p[kk], wg_desc_add(dV, kk * 2048), 1);
}
// masks the scores of key block n0 for rows i0, i0 + 8 (keys past the sequence, and the causal future)
static __device__ __forceinline__ void fwd_mask(float* s, int n0, int i0, int kLen, int off, int causal, int t4) {
#pragma unroll
  for (int j = 0; j < F90_BN / 8; ++j)
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      const int col = n0 + 8 * j + 2 * t4 + (c & 1), row = i0 + ((c & 2) ? 8 : 0);
      if (col >= kLen || (causal && col > row + off)) s[4 * j + c] = NEG_INF;
    }
}
// online softmax of one score tile: running max m and sum l per row, the tile becomes exp2(s * scaleLog2 - m),
// alpha the rescale of what was accumulated before
static __device__ __forceinline__ void fwd_softmax(float* s, float* m, float* l, float* alpha, float scaleLog2) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float mx = NEG_INF;
#pragma unroll
    for (int j = 0; j < F90_BN / 8; ++j) mx = fmaxf(mx, fmaxf(s[4 * j + 2 * r], s[4 * j + 2 * r + 1]));
    const float mnew = fmaxf(m[r], quad_max(mx) * scaleLog2);
    const float mref = mnew == NEG_INF ? 0.f : mnew;
    alpha[r] = ex2(m[r] - mref);
    m[r] = mnew;
    float sum = 0.f;
#pragma unroll
    for (int j = 0; j < F90_BN / 8; ++j) {
      s[4 * j + 2 * r] = ex2(fmaf(s[4 * j + 2 * r], scaleLog2, -mref));
      s[4 * j + 2 * r + 1] = ex2(fmaf(s[4 * j + 2 * r + 1], scaleLog2, -mref));
      sum += s[4 * j + 2 * r] + s[4 * j + 2 * r + 1];
    }
    l[r] = l[r] * alpha[r] + sum;
  }
}
static __device__ __forceinline__ void rescale_rows(float* o, const float* alpha) {
#pragma unroll
  for (int j = 0; j < HD / 8; ++j) {
    o[4 * j] *= alpha[0];
    o[4 * j + 1] *= alpha[0];
    o[4 * j + 2] *= alpha[1];
    o[4 * j + 3] *= alpha[1];
  }
}
#endif  // __CUDA_ARCH_FEAT_SM90_ALL

// Dynamic shared memory: 1024 bytes of alignment slack, Q (F90_BM x HD), F90_STAGES K and V tiles (128 x HD), then
// the mbarriers qFull, kFull[S], kEmpty[S], vFull[S], vEmpty[S].
extern "C" __global__ void __launch_bounds__(F90_NT, 1)
fa90_fwd(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, bf16* __restrict__ o,
         float* __restrict__ lse, const int* __restrict__ cuQ, const int* __restrict__ cuK,
         long long qsb, long long qst, long long qsh, long long ksb, long long kst, long long ksh,
         long long vsb, long long vst, long long vsh, int Tq, int Tk, int H, int Hkv, float scaleLog2, int causal) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int BM = F90_BM, BN = F90_BN, S = F90_STAGES;
  constexpr u32 QB = BM * HD * 2, KB = BN * HD * 2;
  extern __shared__ __align__(1024) char smem_raw[];
  const u32 raw = smem_u32(smem_raw), base = (raw + 1023u) & ~1023u;
  char* sbase = smem_raw + (base - raw);
  const u32 aQ = base, aK = aQ + QB, aV = aK + S * KB, aBar = aV + S * KB;
  const u32 qFull = aBar;
  auto kFull = [&](int s) { return aBar + 8 * (1 + s); };
  auto kEmpty = [&](int s) { return aBar + 8 * (1 + S + s); };
  auto vFull = [&](int s) { return aBar + 8 * (1 + 2 * S + s); };
  auto vEmpty = [&](int s) { return aBar + 8 * (1 + 3 * S + s); };

  // the warpgroup index through a shuffle: warp-uniform to the compiler, so the products are not serialized
  const int tid = threadIdx.x, wg = __shfl_sync(0xffffffffu, tid >> 7, 0);
  const int h = blockIdx.y;
  const SeqRange sr = seq_range(blockIdx.z, cuQ, cuK, Tq, Tk);
  const int mBlocks = (sr.qLen + BM - 1) / BM;
  const int mb = causal ? (int)gridDim.x - 1 - (int)blockIdx.x : (int)blockIdx.x;  // longest rows first
  if (mb >= mBlocks) return;
  const int m0 = mb * BM, off = sr.kLen - sr.qLen;
  int nEnd = sr.kLen;
  if (causal) nEnd = min(sr.kLen, max(0, m0 + BM + off));
  const int nBlocks = (nEnd + BN - 1) / BN;
  const int hk = h / (H / Hkv);

  if (tid == 0) {
    mbar_init(qFull, 128);
#pragma unroll
    for (int s = 0; s < S; ++s) {
      mbar_init(kFull(s), 128);
      mbar_init(vFull(s), 128);
      mbar_init(kEmpty(s), 4 * F90_WG);
      mbar_init(vEmpty(s), 4 * F90_WG);
    }
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");  // visible to the copy units' arrivals
  }
  __syncthreads();

  if (wg == 0) {
    // producer: Q once, then K and V of every key block through the stage ring
    regs_dealloc<F90_REG_LOAD>();
    const bf16* qb = q + sr.bt * qsb + (long long)(sr.qStart + m0) * qst + h * qsh;
    const bf16* kb = k + sr.bt * ksb + (long long)sr.kStart * kst + hk * ksh;
    const bf16* vb = v + sr.bt * vsb + (long long)sr.kStart * vst + hk * vsh;
    load_wg_tile<BM, 128>(aQ, qb, qst, sr.qLen - m0, tid);
    mbar_arrive_cp_async(qFull);
#pragma unroll 1
    for (int nb = 0; nb < nBlocks; ++nb) {
      const int s = nb % S;
      const u32 ph = (nb / S) & 1;
      const int n0 = nb * BN;
      if (nb >= S) mbar_wait(kEmpty(s), ph ^ 1);
      load_wg_tile<BN, 128>(aK + s * KB, kb + (long long)n0 * kst, kst, sr.kLen - n0, tid);
      mbar_arrive_cp_async(kFull(s));
      if (nb >= S) mbar_wait(vEmpty(s), ph ^ 1);
      load_wg_tile<BN, 128>(aV + s * KB, vb + (long long)n0 * vst, vst, sr.kLen - n0, tid);
      mbar_arrive_cp_async(vFull(s));
    }
    asm volatile("cp.async.wait_all;\n" ::: "memory");
  } else {
    regs_alloc<F90_REG_MMA>();
    const int cw = wg - 1, wq = (tid >> 5) & 3, lane = tid & 31, g = lane >> 2, t4 = lane & 3;
    const int rowW = 64 * cw;                // this warpgroup's first row in the tile
    const int i0 = m0 + rowW + 16 * wq + g;  // this thread's rows i0 and i0 + 8 (in the sequence)
    const u64 dQ = wg_desc<16, 1024>(aQ + rowW * 128);
    const u64 dK0 = wg_desc<16, 1024>(aK);
    const u64 dV0 = wg_desc<BN * 128, 1024>(aV);
    auto needsMask = [&](int n0) { return n0 + BN > sr.kLen || (causal && n0 + BN - 1 > m0 + rowW + off); };

    float oacc[HD / 2];
#pragma unroll
    for (int i = 0; i < HD / 2; ++i) oacc[i] = 0.f;
    float sacc[BN / 2];
    u32 p[BN / 16][4];
    float mrow[2] = {NEG_INF, NEG_INF}, lrow[2] = {0.f, 0.f}, alpha[2];

    mbar_wait(qFull, 0);
#if F90_OVERLAP
    if (nBlocks > 0) {
      mbar_wait(kFull(0), 0);
      wg_fence();
      fwd_qk(sacc, dQ, dK0);
      wg_commit();
      wg_wait<0>();
      reg_fence<BN / 2>(sacc);
      warp_arrive(kEmpty(0), lane);
      if (needsMask(0)) fwd_mask(sacc, 0, i0, sr.kLen, off, causal, t4);
      fwd_softmax(sacc, mrow, lrow, alpha, scaleLog2);
      acc_to_frags<BN>(sacc, p);
#if F90_PINGPONG
      if (cw == 0 && nBlocks > 1) named_arrive(1, 256);  // the first warpgroup starts the turns
#endif
#pragma unroll 1
      for (int nb = 1; nb < nBlocks; ++nb) {
        const int s = nb % S, ps = (nb - 1) % S;
        mbar_wait(kFull(s), (nb / S) & 1);
        mbar_wait(vFull(ps), ((nb - 1) / S) & 1);
#if F90_PINGPONG
        named_sync(1 + cw, 256);
#endif
        wg_fence();
        fwd_qk(sacc, dQ, wg_desc_add(dK0, s * KB));
        wg_commit();
        fwd_pv(oacc, p, wg_desc_add(dV0, ps * KB));
        wg_commit();
#if F90_PINGPONG
        if (!(cw == F90_WG - 1 && nb == nBlocks - 1)) named_arrive(1 + (cw + 1) % F90_WG, 256);
#endif
        wg_wait<1>();
        reg_fence<BN / 2>(sacc);
        warp_arrive(kEmpty(s), lane);
        if (needsMask(nb * BN)) fwd_mask(sacc, nb * BN, i0, sr.kLen, off, causal, t4);
        fwd_softmax(sacc, mrow, lrow, alpha, scaleLog2);
        wg_wait<0>();
        reg_fence<HD / 2>(oacc);
        warp_arrive(vEmpty(ps), lane);
        rescale_rows(oacc, alpha);
        acc_to_frags<BN>(sacc, p);
      }
      const int ls = (nBlocks - 1) % S;
      mbar_wait(vFull(ls), ((nBlocks - 1) / S) & 1);
      wg_fence();
      fwd_pv(oacc, p, wg_desc_add(dV0, ls * KB));
      wg_commit();
      wg_wait<0>();
      reg_fence<HD / 2>(oacc);
      warp_arrive(vEmpty(ls), lane);
    }
#else
#pragma unroll 1
    for (int nb = 0; nb < nBlocks; ++nb) {
      const int s = nb % S;
      const u32 ph = (nb / S) & 1;
      mbar_wait(kFull(s), ph);
      wg_fence();
      fwd_qk(sacc, dQ, wg_desc_add(dK0, s * KB));
      wg_commit();
      wg_wait<0>();
      reg_fence<BN / 2>(sacc);
      warp_arrive(kEmpty(s), lane);
      if (needsMask(nb * BN)) fwd_mask(sacc, nb * BN, i0, sr.kLen, off, causal, t4);
      fwd_softmax(sacc, mrow, lrow, alpha, scaleLog2);
      rescale_rows(oacc, alpha);
      acc_to_frags<BN>(sacc, p);
      mbar_wait(vFull(s), ph);
      wg_fence();
      fwd_pv(oacc, p, wg_desc_add(dV0, s * KB));
      wg_commit();
      wg_wait<0>();
      reg_fence<HD / 2>(oacc);
      warp_arrive(vEmpty(s), lane);
    }
#endif

    // epilogue: normalise, stage this warp's rows in its own rows of the Q tile (read only by this warpgroup's
    // finished products), 16-byte stores; lse in natural log
    float inv[2], lsev[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const float l = quad_sum(lrow[r]);
      lsev[r] = l > 0.f ? (mrow[r] + log2f(l)) * LN2 : NEG_INF;
      inv[r] = l > 0.f ? 1.f / l : 0.f;
    }
    const int rt = rowW + 16 * wq;
    const int rows = min(16, sr.qLen - m0 - rt);
    const long long ost = (long long)H * HD;
    bf16* ob = o + ((long long)sr.bt * Tq + sr.qStart + m0 + rt) * ost + (long long)h * HD;
    float* lb = lse + ((long long)sr.bt * H + h) * Tq + sr.qStart + m0 + rt;
    if (rows > 0) {
      store_rows16_wg<BM>(sbase, rt, oacc, inv[0], inv[1], ob, ost, rows, lane);
      if (t4 == 0) {
        if (g < rows) lb[g] = lsev[0];
        if (g + 8 < rows) lb[g + 8] = lsev[1];
      }
    }
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}

// ------------------------------------------------------------------------------------------------
// backward

#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
static __device__ __forceinline__ void atomic_add2(float* p, float x, float y) {
  atomicAdd(reinterpret_cast<float2*>(p), make_float2(x, y));
}
#endif

// Same arguments as fa_bwd (flash_attn.cu): dq_acc f32 [B, Tq, H, HD] zeroed, gets dS K (unscaled, by bulk
// reductions); dk, dv bf16 written directly when one CTA covers a whole query-head group, else dk_acc, dv_acc (f32,
// zeroed) get atomic adds. Dynamic shared memory: 1024 bytes of alignment slack, K, V (128 x HD), Q[2], dO[2]
// (B90_BM x HD), dS^T (128 x B90_BM), dQ staging [2][B90_BM][B90_DQP] f32, lse[2][B90_BM], delta[2][B90_BM].
extern "C" __global__ void __launch_bounds__(B90_NT, 1)
fa90_bwd(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, const bf16* __restrict__ dout,
         const float* __restrict__ lse, const float* __restrict__ delta, float* __restrict__ dqAcc, bf16* __restrict__ dk,
         bf16* __restrict__ dv, float* __restrict__ dkAcc, float* __restrict__ dvAcc, const int* __restrict__ cuQ,
         const int* __restrict__ cuK, long long qsb, long long qst, long long qsh, long long ksb, long long kst,
         long long ksh, long long vsb, long long vst, long long vsh, long long dsb, long long dst, long long dsh, int Tq,
         int Tk, int H, int Hkv, int headsPerCta, float scale, float scaleLog2, int causal) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  constexpr int BM = B90_BM, BN = B90_BN, NT = B90_NT;
  constexpr u32 KB = BN * HD * 2, QB = BM * HD * 2, SB = BN * BM * 2, DQB = BM * B90_DQP * 4;
  extern __shared__ __align__(1024) char smem_raw[];
  const u32 raw = smem_u32(smem_raw), base = (raw + 1023u) & ~1023u;
  char* sbase = smem_raw + (base - raw);
  const u32 aK = base, aV = aK + KB, aQ0 = aV + KB, aO0 = aQ0 + 2 * QB, aS = aO0 + 2 * QB, aDQ = aS + SB;
  float* sDQ = reinterpret_cast<float*>(sbase + (aDQ - base));
  float* sL = reinterpret_cast<float*>(sbase + (aDQ + 2 * DQB - base));  // [2][BM] lse * log2 e (+inf: no row)
  float* sD = sL + 2 * BM;                                               // [2][BM] delta

  const int tid = threadIdx.x, cw = __shfl_sync(0xffffffffu, tid >> 7, 0), wq = (tid >> 5) & 3, lane = tid & 31;
  const int g = lane >> 2, t4 = lane & 3;
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

  load_wg_tile<BN, NT>(aK, k + sr.bt * ksb + (long long)(sr.kStart + n0) * kst + hk * ksh, kst, sr.kLen - n0, tid);
  load_wg_tile<BN, NT>(aV, v + sr.bt * vsb + (long long)(sr.kStart + n0) * vst + hk * vsh, vst, sr.kLen - n0, tid);
  auto stepHead = [&](int step) { return hBase + step / nmb; };
  auto stepRow = [&](int step) { return (mStart + step % nmb) * BM; };
  auto prefetch = [&](int step, int b) {
    const int h = stepHead(step), m0 = stepRow(step);
    const long long row0 = sr.qStart + m0;
    load_wg_tile<BM, NT>(aQ0 + b * QB, q + sr.bt * qsb + row0 * qst + h * qsh, qst, sr.qLen - m0, tid);
    load_wg_tile<BM, NT>(aO0 + b * QB, dout + sr.bt * dsb + row0 * dst + h * dsh, dst, sr.qLen - m0, tid);
    if (tid < BM) {
      const long long li = ((long long)sr.bt * H + h) * Tq + row0 + tid;
      const bool ok = m0 + tid < sr.qLen;
      const float l = ok ? lse[li] : NEG_INF;
      sL[b * BM + tid] = l == NEG_INF ? POS_INF : l * LOG2E;
      sD[b * BM + tid] = ok ? delta[li] : 0.f;
    }
  };
  // dQ rows of a finished step: one bulk reduction per valid row from staging buffer b (threads tid < BM)
  auto issueDq = [&](int step, int b) {
    if (tid < BM) {
      const int h = stepHead(step), m0 = stepRow(step);
      if (m0 + tid < sr.qLen) {
        float* gq = dqAcc + (((long long)sr.bt * Tq + sr.qStart + m0 + tid) * H + h) * HD;
        bulk_reduce_add_f32(gq, aDQ + b * DQB + tid * (B90_DQP * 4), HD * 4);
      }
      bulk_commit();
    }
  };
  if (nSteps > 0) prefetch(0, 0);
  cp_async_commit();

  float dkacc[HD / 2], dvacc[HD / 2];
#pragma unroll
  for (int i = 0; i < HD / 2; ++i) dkacc[i] = dvacc[i] = 0.f;
  const int key0 = n0 + 64 * cw + 16 * wq + g;  // this thread's keys key0 and key0 + 8 (in the sequence)
  // operand addresses (descriptors are formed where used: cheaper than keeping eight 64-bit values live)
  const u32 aKa = aK + 64 * cw * 128, aVa = aV + 64 * cw * 128;  // A of S^T and dP^T: this warpgroup's 64 keys
  // dQ (BM x HD) = dS K: each warpgroup one 64 x 64 tile (HD 64: query half cw; HD 128: column half cw)
  const int qm = HD == 64 ? cw : 0, dn = HD == 64 ? 0 : cw;
  const u32 aSa = aS + qm * BN * 128, aKb = aK + dn * BN * 128;

#pragma unroll 1
  for (int step = 0; step < nSteps; ++step) {
    const int b = step & 1;
    const int m0 = stepRow(step);
    cp_async_wait<0>();
    fence_async_smem();
    __syncthreads();  // Q, dO, lse, delta of this step (and K, V) landed; the previous step is done everywhere
    if (step > 0) issueDq(step - 1, b ^ 1);
    if (step + 1 < nSteps) prefetch(step + 1, b ^ 1);
    cp_async_commit();

    // S^T = K Q^T and dP^T = V dO^T (64 keys x BM queries per warpgroup)
    float st[BM / 2], dp[BM / 2];
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
      const u32 ka = (kk >> 2) * (BN * 128) + (kk & 3) * 32, kq = b * QB + (kk >> 2) * (BM * 128) + (kk & 3) * 32;
      wgmma_ss<BM, 0, 0>(st, wg_desc<16, 1024>(aKa + ka), wg_desc<16, 1024>(aQ0 + kq), kk > 0);
    }
    wg_commit();
#pragma unroll
    for (int kk = 0; kk < HD / 16; ++kk) {
      const u32 ka = (kk >> 2) * (BN * 128) + (kk & 3) * 32, kq = b * QB + (kk >> 2) * (BM * 128) + (kk & 3) * 32;
      wgmma_ss<BM, 0, 0>(dp, wg_desc<16, 1024>(aVa + ka), wg_desc<16, 1024>(aO0 + kq), kk > 0);
    }
    wg_commit();
    wg_wait<1>();
    reg_fence<BM / 2>(st);

    // P^T = exp2(S^T scale log2 e - lse log2 e): zero for keys past the sequence, the causal future and rows
    // without a query (lse +inf there)
    const float* L = sL + b * BM;
    const float* Dl = sD + b * BM;
    const bool mask = n0 + BN > sr.kLen || (causal && n0 + BN - 1 > m0 + off);
    u32 pp[BM / 16][4];  // packed as soon as computed (k16 slice kk from n8 tiles 2kk, 2kk + 1): fewer live registers
#pragma unroll
    for (int kk = 0; kk < BM / 16; ++kk) {
      float pv[8];
#pragma unroll
      for (int e = 0; e < 8; ++e) {
        const int j = 2 * kk + (e >> 2), c = e & 3, col = 8 * j + 2 * t4 + (c & 1);
        float x = ex2(fmaf(st[4 * j + c], scaleLog2, -L[col]));
        if (mask) {
          const int key = key0 + ((c & 2) ? 8 : 0);
          if (key >= sr.kLen || (causal && key > m0 + col + off)) x = 0.f;
        }
        pv[e] = x;
      }
      pp[kk][0] = pack_bf16(pv[0], pv[1]);
      pp[kk][1] = pack_bf16(pv[2], pv[3]);
      pp[kk][2] = pack_bf16(pv[4], pv[5]);
      pp[kk][3] = pack_bf16(pv[6], pv[7]);
    }
    wg_wait<0>();
    reg_fence<BM / 2>(dp);
    // dS^T = P^T (dP^T - delta), with P rounded as it enters dV
    u32 ds[BM / 16][4];
#pragma unroll
    for (int kk = 0; kk < BM / 16; ++kk)
#pragma unroll
      for (int i = 0; i < 4; ++i) {  // register i of the slice: n8 tile 2kk + (i >> 1), row half i & 1
        const int j = 2 * kk + (i >> 1), r = i & 1, col = 8 * j + 2 * t4;
        const float2 pr = unpack_bf16(pp[kk][i]);
        ds[kk][i] = pack_bf16(pr.x * (dp[4 * j + 2 * r] - Dl[col]), pr.y * (dp[4 * j + 2 * r + 1] - Dl[col + 1]));
      }
    // dS^T to shared memory (rows: this warpgroup's keys) for dQ
    {
      const int r = 64 * cw + 16 * wq + g;
      char* sS = sbase + (aS - base);
#pragma unroll
      for (int kk = 0; kk < BM / 16; ++kk) {
        *reinterpret_cast<u32*>(sS + wg_off<BN>(r, 2 * kk) + 4 * t4) = ds[kk][0];
        *reinterpret_cast<u32*>(sS + wg_off<BN>(r + 8, 2 * kk) + 4 * t4) = ds[kk][1];
        *reinterpret_cast<u32*>(sS + wg_off<BN>(r, 2 * kk + 1) + 4 * t4) = ds[kk][2];
        *reinterpret_cast<u32*>(sS + wg_off<BN>(r + 8, 2 * kk + 1) + 4 * t4) = ds[kk][3];
      }
    }
    // dV += P^T dO, dK += dS^T Q (queries are the k dimension)
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < BM / 16; ++kk) wgmma_rs<HD, 1>(dvacc, pp[kk], wg_desc<BM * 128, 1024>(aO0 + b * QB + kk * 2048), 1);
#pragma unroll
    for (int kk = 0; kk < BM / 16; ++kk) wgmma_rs<HD, 1>(dkacc, ds[kk], wg_desc<BM * 128, 1024>(aQ0 + b * QB + kk * 2048), 1);
    wg_commit();
    fence_async_smem();
    if (tid < BM) bulk_wait_read<1>();  // staging buffer b (two steps ago) has been read out
    __syncthreads();                    // dS^T complete; staging buffer b free

    // dQ tile = dS K over the 128 keys
    float dq[32];
    wg_fence();
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      wgmma_ss<64, 1, 1>(dq, wg_desc<BN * 128, 1024>(aSa + kk * 2048), wg_desc<BN * 128, 1024>(aKb + kk * 2048), kk > 0);
    }
    wg_commit();
    wg_wait<0>();
    reg_fence<32>(dq);
    reg_fence<HD / 2>(dkacc);
    reg_fence<HD / 2>(dvacc);
    {
      float* sq = sDQ + b * (BM * B90_DQP);
      const int row = 64 * qm + 16 * wq + g;
#pragma unroll
      for (int j = 0; j < 8; ++j) {
        const int col = 64 * dn + 8 * j + 2 * t4;
        *reinterpret_cast<float2*>(sq + row * B90_DQP + col) = make_float2(dq[4 * j], dq[4 * j + 1]);
        *reinterpret_cast<float2*>(sq + (row + 8) * B90_DQP + col) = make_float2(dq[4 * j + 2], dq[4 * j + 3]);
      }
    }
  }
  cp_async_wait<0>();
  fence_async_smem();
  __syncthreads();  // the last dQ staged; every product done: K and V rows become staging space
  if (nSteps > 0) issueDq(nSteps - 1, (nSteps - 1) & 1);
  if (tid < BM) bulk_wait<0>();

  const int rt = 64 * cw + 16 * wq;
  const int rows = min(16, sr.kLen - n0 - rt);
  const long long rs = (long long)Hkv * HD;
  const long long kv0 = ((long long)sr.bt * Tk + sr.kStart + n0 + rt) * rs + (long long)hk * HD;
  if (headsPerCta == group) {
    if (rows > 0) {
      store_rows16_wg<BN>(sbase + (aK - base), rt, dkacc, scale, scale, dk + kv0, rs, rows, lane);
      store_rows16_wg<BN>(sbase + (aV - base), rt, dvacc, 1.f, 1.f, dv + kv0, rs, rows, lane);
    }
  } else {
#pragma unroll
    for (int j = 0; j < HD / 8; ++j) {
      const int col = 8 * j + 2 * t4;
      if (g < rows) {
        atomic_add2(dkAcc + kv0 + g * rs + col, dkacc[4 * j] * scale, dkacc[4 * j + 1] * scale);
        atomic_add2(dvAcc + kv0 + g * rs + col, dvacc[4 * j], dvacc[4 * j + 1]);
      }
      if (g + 8 < rows) {
        atomic_add2(dkAcc + kv0 + (g + 8) * rs + col, dkacc[4 * j + 2] * scale, dkacc[4 * j + 3] * scale);
        atomic_add2(dvAcc + kv0 + (g + 8) * rs + col, dvacc[4 * j + 2], dvacc[4 * j + 3]);
      }
    }
  }
#endif  // __CUDA_ARCH_FEAT_SM90_ALL
}
