// Chunked gated linear attention (fla's chunk_gla) on tensor cores, forward and backward.
//
//   S_t = diag(exp(g_t)) S_{t-1} + k_t^T v_t      (S_{-1} = initial state, f32 K x V per head)
//   o_t = scale * q_t S_t                          g_t <= 0 per key channel (log decay)
//
// Layout: tokens packed [NTOK, H, D] (a batch [B, T, H, D] is B sequences of T tokens); q, k, v, dO bf16;
// g bf16 or f32; states f32 [.., H, K, V]. Sequences are cut into segments (a table of (tBeg, tEnd, seq,
// flags) built on the host); one CTA per (value tile of BV columns, segment, head).
//
// LASP-2 inside one GPU. Forward: per-segment local states (gla_fwd, mode 1) and a scan over segments
// (gla_state_scan) give each segment its entering state; gla_fwd (mode 0) walks the segment block by block
// with the state in registers. Backward: the same for the forward states and, in reverse, the gradient
// states (gla_dkdv mode 1); gla_dq walks forwards (dq), gla_dkdv backwards (dk, dv, dS0). No per-block
// state reaches memory. dq and dk leave as f32 partial sums over the value tiles; gla_finish (gla_aux.cu)
// sums them and forms dg = reverse cumsum of (q*dq - k*dk).
//
// Decay inside a block of CB = 64 tokens, in log2 units: b_i = sum_{r <= i} g_r (within the block). The
// block is cut into four 16-token sub-chunks I (fla's secondary chunking); beta_i is the cumulative log
// decay inside its sub-chunk (beta_{I0} = g_{I0}). Tiles formed once per block ("transform"):
//   Q1_i = q_i * 2^(beta_i - beta_I0)      (<= |q|)      K2_j = k_j * 2^(beta_Jend - beta_j)  (<= |k|)
// and per channel c: F_I = 2^b_I0, E_IJ = 2^(b_I0 - b_Jend) (J < I), X_I = 2^(b_I0 - b_Iend), K3_J =
// 2^(b_last - b_Jend), Dec = 2^b_last. Every product of the recurrence is one of
//   q_i k_j 2^(b_i - b_j) = Q1_i E_IJ K2_j        (J < I; every factor <= 1)
//                         = Q1_i X_I  K2_j        (J = I; X_I <= 2^XMAX, or that channel is done exactly)
//   q_i 2^b_i             = Q1_i F_I               k_j 2^(b_last - b_j) = K2_j K3_J
// so no exponential of a large positive number is formed: a channel whose decay inside one sub-chunk
// exceeds 2^-XMAX (rare: a forget factor below ~0.03 for 16 steps in a row) is left out of the diagonal
// product and its terms are added one by one with 2^(beta_i - beta_j), j <= i.
//
// Tensor cores through mma.sync m16n8k16 (bf16, f32 accumulate) with ldmatrix from swizzled shared
// memory; cp.async brings the next block's tiles in while the current one computes. DK (64 or 128) is
// the padded key dim (-DDK=..); the actual K (multiple of 8, <= DK) and V (multiple of 8) are arguments.
#include "tc_mma.cuh"

#ifndef DK
#define DK 128
#endif
#if DK != 64 && DK != 128
#error "gla.cu: DK must be 64 or 128"
#endif
#define CB 64                 // tokens per block
#define BV 64                 // value columns per CTA
#define NTH 256               // 8 warps: (wr, wc) = (w & 3, w >> 2)
#define XMAX 80.0f            // largest log2 decay inside a sub-chunk on the factorised diagonal
#define LOG2E 1.4426950408889634f
#define SB (DK + 8)           // row stride (floats) of the beta tile: conflict-free float2 reads

// per-channel vectors (floats, DK each) after the beta tile
#define VF 0                  // F_I = 2^b_I0              [4]
#define VE (4 * DK)           // E_IJ, J < I               [6]: (1,0) (2,0) (2,1) (3,0) (3,1) (3,2)
#define VX (10 * DK)          // X_I or 0 when unsafe      [4]
#define VK3 (14 * DK)         // K3_J = 2^(b_last - b_Jend) [4]
#define VDEC (18 * DK)        // 2^b_last
#define VSEG (19 * DK)        // sum of b_last over the blocks walked (log2 decay of the segment)
#define NVEC (20 * DK)

static __device__ __forceinline__ int epair(int I, int J) { return I * (I - 1) / 2 + J; }

// Phase profile (prof not null): the first CTA's first and last threads record clock64() at each phase boundary
// of each block walked, at prof[(thread != 0) * PROF_BLOCKS + block][phase] (PROF_PHASES per block).
#define PROF_BLOCKS 1024
#define PROF_PHASES 16
#define PROF(it, ph)                                                                                                         \
  do {                                                                                                                       \
    if (prof && (tid == 0 || tid == NTH - 1) && blockIdx.x == 0 && blockIdx.y == 0 && blockIdx.z == 0 && (it) < PROF_BLOCKS) \
      prof[((tid != 0) * PROF_BLOCKS + (it)) * PROF_PHASES + (ph)] = clock64();                                              \
  } while (0)

// ---------------------------------------------------------------------------------------------
// Shared-memory tiles
#define QT (CB * DK * 2)      // bf16 CB x DK
#define GT (CB * DK * 4)      // raw g (bf16 or f32)
#define VTB (CB * BV * 2)     // bf16 CB x BV
#define STB (DK * BV * 2)     // bf16 DK x BV state copy
#define PT (CB * CB * 2)      // bf16 scores
#define BETAB (CB * SB * 4)
#define VECB (NVEC * 4)
#define MASKB (4 * (DK / 32) * 4)

// ---------------------------------------------------------------------------------------------
// Loads (cp.async, zero fill): rows t0..t0+CB-1 (none at or past tEnd) of a row-major matrix with row
// stride rs elements; columns [0, valid) exist.
template <int COLS>
static __device__ __forceinline__ void load_tile(u32 sbase, const bf16* src, long long rs, int t0, int tEnd, int valid, int tid) {
  constexpr int CPR = COLS / 8;
  static_assert((CB * CPR) % NTH == 0, "tile chunks must divide among the threads");
#pragma unroll
  for (int it = 0; it < CB * CPR / NTH; ++it) {
    const int idx = it * NTH + tid;
    const int r = idx / CPR, c = idx % CPR;
    const int t = t0 + r;
    const bool ok = t < tEnd && c * 8 < valid;
    const bf16* p = ok ? src + (long long)t * rs + c * 8 : src;
    cp_async16(sbase + swz<COLS>(r, c), p, ok ? 16 : 0);
  }
}

// raw g rows, unswizzled [CB][DK] of bf16 or f32
static __device__ __forceinline__ void load_g(u32 sbase, const char* src, int gF32, long long rs, int t0, int tEnd, int K, int tid) {
  const int es = gF32 ? 4 : 2;
  const int per = 16 / es;            // elements per chunk
  const int cpr = DK / per;           // chunks per row
  for (int idx = tid; idx < CB * cpr; idx += NTH) {
    const int r = idx / cpr, c = idx % cpr;
    const int t = t0 + r;
    const bool ok = t < tEnd && c * per < K;
    const char* p = ok ? src + ((long long)t * rs + c * per) * es : src;
    cp_async16(sbase + (u32)((r * DK + c * per) * es), p, ok ? 16 : 0);
  }
}

// ---------------------------------------------------------------------------------------------
// Transform, phase 1 (thread per (sub-chunk, channel pair)): beta (log2, f32), Q1 and K2 tiles, and when asked
// for (sQ1lo, sK2lo not null) their low halves: x = hi + lo with hi = bf16(x), lo = bf16(x - hi), so that
// products with both halves carry ~16 bits. One ex2 per element of g: the factors 2^(beta_r - beta_0) and
// 2^(beta_15 - beta_r) are running products of a_r = 2^(g_r log2 e) (relative error ~16 * 2^-22).
static __device__ __forceinline__ void transform1(const char* rawQ, const char* rawK, const char* rawG, int gF32,
    char* sQ1, char* sQ1lo, char* sK2, char* sK2lo, float* beta, bool needQ, bool needK, int tid) {
  for (int idx = tid; idx < 4 * (DK / 2); idx += NTH) {
    const int I = idx / (DK / 2), c = 2 * (idx % (DK / 2));
    float a0[16], a1[16];
    float s0 = 0.f, s1 = 0.f;
#pragma unroll
    for (int r = 0; r < 16; ++r) {
      const int row = 16 * I + r;
      float g0, g1;
      if (gF32) {
        const float2 x = *reinterpret_cast<const float2*>(rawG + (row * DK + c) * 4);
        g0 = x.x; g1 = x.y;
      } else {
        const float2 x = unpack_bf16(*reinterpret_cast<const u32*>(rawG + (row * DK + c) * 2));
        g0 = x.x; g1 = x.y;
      }
      g0 *= LOG2E;
      g1 *= LOG2E;
      s0 += g0;
      s1 += g1;
      a0[r] = ex2(g0);
      a1[r] = ex2(g1);
      *reinterpret_cast<float2*>(beta + row * SB + c) = make_float2(s0, s1);
    }
    if (needQ) {
      float f0 = 1.f, f1 = 1.f;
#pragma unroll
      for (int r = 0; r < 16; ++r) {
        if (r > 0) { f0 *= a0[r]; f1 *= a1[r]; }
        const u32 off = swz_el<DK>(16 * I + r, c);
        const float2 x = unpack_bf16(*reinterpret_cast<const u32*>(rawQ + off));
        store_split(sQ1, sQ1lo, off, x.x * f0, x.y * f1);
      }
    }
    if (needK) {
      float f0 = 1.f, f1 = 1.f;
#pragma unroll
      for (int r = 15; r >= 0; --r) {
        if (r < 15) { f0 *= a0[r + 1]; f1 *= a1[r + 1]; }
        const u32 off = swz_el<DK>(16 * I + r, c);
        const float2 x = unpack_bf16(*reinterpret_cast<const u32*>(rawK + off));
        store_split(sK2, sK2lo, off, x.x * f0, x.y * f1);
      }
    }
  }
}

// Transform, phase 2 (thread per channel): the per-channel vectors and the unsafe-channel masks.
static __device__ __forceinline__ void transform2(const float* beta, float* vec, u32* umask, int tid) {
  if (tid < DK) {
    const int c = tid;
    float lb0[4], lbe[4];
    float P = 0.f;
#pragma unroll
    for (int I = 0; I < 4; ++I) {
      lb0[I] = P + beta[(16 * I) * SB + c];
      lbe[I] = P + beta[(16 * I + 15) * SB + c];
      P = lbe[I];
    }
#pragma unroll
    for (int I = 0; I < 4; ++I) {
      vec[VF + I * DK + c] = ex2(lb0[I]);
      vec[VK3 + I * DK + c] = ex2(lbe[3] - lbe[I]);
      const float X = lb0[I] - lbe[I];
      const bool unsafe = X > XMAX;
      vec[VX + I * DK + c] = unsafe ? 0.f : ex2(X);
      const u32 m = __ballot_sync(0xffffffffu, unsafe);
      if ((c & 31) == 0) umask[I * (DK / 32) + (c >> 5)] = m;
#pragma unroll
      for (int J = 0; J < I; ++J) vec[VE + epair(I, J) * DK + c] = ex2(lb0[I] - lbe[J]);
    }
    vec[VDEC + c] = ex2(lbe[3]);
    vec[VSEG + c] += lbe[3];
  }
}

// ---------------------------------------------------------------------------------------------
// Scores of row sub-chunk I against column sub-chunks J = 2wc, 2wc+1 (a 16 x 32 strip), times scale,
// masked to j <= i, into the bf16 CB x CB tile sP (tiles with J > I are never read and not written).
//   S_ij = scale * sum_c A_ic B_jc 2^(beta_ic - beta_jc)   with A = q, B = k (QK^T) ...
// qa: fragments of Q1 rows I. The unsafe channels' diagonal terms are read from global memory (qg, kg
// at this head; rows of the block start at token t0, L of them exist).
static __device__ __forceinline__ void qk_scores(const u32 (&qa)[DK / 16][4], u32 aK2, const float* vec, const u32* umask,
    const float* beta, char* sP, float scale, int I, int wc, int lane, const bf16* qg, const bf16* kg, long long rs, int t0, int L) {
  const int g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int jj = 0; jj < 2; ++jj) {
    const int J = 2 * wc + jj;
    if (J > I) continue;  // warp-uniform
    float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
    const float* fac = (J == I) ? vec + VX + I * DK : vec + VE + epair(I, J) * DK;
#pragma unroll
    for (int kk = 0; kk < DK / 16; ++kk) {
      u32 bb[4];
      ldsm4(bb, addrB<DK>(aK2, 16 * J, 16 * kk, lane));
      const int c = 16 * kk + 2 * t4;
      const float2 f01 = *reinterpret_cast<const float2*>(fac + c);
      const float2 f89 = *reinterpret_cast<const float2*>(fac + c + 8);
      bb[0] = scale_bf16x2(bb[0], f01.x, f01.y);
      bb[2] = scale_bf16x2(bb[2], f01.x, f01.y);
      bb[1] = scale_bf16x2(bb[1], f89.x, f89.y);
      bb[3] = scale_bf16x2(bb[3], f89.x, f89.y);
      mma16816(acc[0], qa[kk], bb[0], bb[1]);
      mma16816(acc[1], qa[kk], bb[2], bb[3]);
    }
    if (J == I) {
      // channels too strongly decayed for the factorised diagonal: exact terms
#pragma unroll 1
      for (int wd = 0; wd < DK / 32; ++wd) {
        u32 m = umask[I * (DK / 32) + wd];
        while (m) {
          const int c = 32 * wd + __ffs(m) - 1;
          m &= m - 1;
#pragma unroll
          for (int hi = 0; hi < 2; ++hi) {
            const int i = g + 8 * hi;
            const int ri = 16 * I + i;
            const float qv = ri < L ? __bfloat162float(qg[(long long)(t0 + ri) * rs + c]) : 0.f;
            const float bi = beta[ri * SB + c];
#pragma unroll
            for (int nt = 0; nt < 2; ++nt)
#pragma unroll
              for (int e = 0; e < 2; ++e) {
                const int j = 8 * nt + 2 * t4 + e;
                const int rj = 16 * I + j;
                if (j <= i && rj < L) {
                  const float kv = __bfloat162float(kg[(long long)(t0 + rj) * rs + c]);
                  acc[nt][2 * hi + e] += qv * kv * ex2(bi - beta[rj * SB + c]);
                }
              }
          }
        }
      }
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const int j = 8 * nt + 2 * t4;
      const bool diag = J == I;
      const float v0 = (!diag || j <= g) ? acc[nt][0] * scale : 0.f;
      const float v1 = (!diag || j + 1 <= g) ? acc[nt][1] * scale : 0.f;
      const float v2 = (!diag || j <= g + 8) ? acc[nt][2] * scale : 0.f;
      const float v3 = (!diag || j + 1 <= g + 8) ? acc[nt][3] * scale : 0.f;
      st_pair<CB>(sP, 16 * I + g, 16 * J + j, v0, v1);
      st_pair<CB>(sP, 16 * I + g + 8, 16 * J + j, v2, v3);
    }
  }
}

// dP = scale * dO V^T (over this CTA's BV value columns), rows I, columns J = 2wc, 2wc+1, masked j <= i, as bf16
// hi into sP and, when sPlo is not null, lo into sPlo (hi + lo carries ~16 bits of the f32 product).
// da: fragments of dO rows I (k = value columns).
static __device__ __forceinline__ void dov_scores(const u32 (&da)[BV / 16][4], u32 aV, char* sP, char* sPlo, float scale, int I, int wc,
    int lane) {
  const int g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int jj = 0; jj < 2; ++jj) {
    const int J = 2 * wc + jj;
    if (J > I) continue;
    float acc[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
    for (int kk = 0; kk < BV / 16; ++kk) {
      u32 bb[4];
      ldsm4(bb, addrB<BV>(aV, 16 * J, 16 * kk, lane));
      mma16816(acc[0], da[kk], bb[0], bb[1]);
      mma16816(acc[1], da[kk], bb[2], bb[3]);
    }
#pragma unroll
    for (int nt = 0; nt < 2; ++nt) {
      const int j = 8 * nt + 2 * t4;
      const bool diag = J == I;
      const float v0 = (!diag || j <= g) ? acc[nt][0] * scale : 0.f;
      const float v1 = (!diag || j + 1 <= g) ? acc[nt][1] * scale : 0.f;
      const float v2 = (!diag || j <= g + 8) ? acc[nt][2] * scale : 0.f;
      const float v3 = (!diag || j + 1 <= g + 8) ? acc[nt][3] * scale : 0.f;
      store_split(sP, sPlo, swz_el<CB>(16 * I + g, 16 * J + j), v0, v1);
      store_split(sP, sPlo, swz_el<CB>(16 * I + g + 8, 16 * J + j), v2, v3);
    }
  }
}

static __device__ __forceinline__ float p_at(const char* sP, int r, int c) {
  return __bfloat162float(*reinterpret_cast<const bf16*>(sP + swz_el<CB>(r, c)));
}

// ---------------------------------------------------------------------------------------------
// State slots: the bf16 state entering every block, [slots, H, K, V], written by the dq walk and read by the
// dk/dv walk (for dg's per-block term). Block blk of segment seg (tokens from tBeg) has slot(seg, blk) =
// tBeg / 64 + 2 seg + blk: distinct over all segments (a segment of nblk blocks starting at tBeg ends before
// the next one's first slot), fewer than NTOK / 64 + 2 segments + 1.
static __device__ __forceinline__ long long slot_of(int tBeg, int seg, int blk) { return (long long)(tBeg / CB) + 2LL * seg + blk; }

// this thread's state elements (the fragment layout of state_load) as bf16 pairs, to or from a slot's [K][V]
// at column e0 (pairs outside K x V are neither written nor read: zeros)
template <int MT>
static __device__ __forceinline__ void slot_store(const float (&s)[MT][4][4], bf16* st, int K, int V, int e0, int sr0, int sc0, int lane) {
  const int g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const int row = sr0 + 16 * mt + g + 8 * hr;
        const int col = e0 + sc0 + 8 * nt + 2 * t4;
        if (row < K && col < V) *reinterpret_cast<u32*>(st + (long long)row * V + col) = pack_bf16(s[mt][nt][2 * hr], s[mt][nt][2 * hr + 1]);
      }
}

template <int MT>
static __device__ __forceinline__ void slot_load(u32 (&s)[MT][4][2], const bf16* st, int K, int V, int e0, int sr0, int sc0, int lane) {
  const int g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const int row = sr0 + 16 * mt + g + 8 * hr;
        const int col = e0 + sc0 + 8 * nt + 2 * t4;
        s[mt][nt][hr] = (row < K && col < V) ? *reinterpret_cast<const u32*>(st + (long long)row * V + col) : 0u;
      }
}

// State registers of a warp: rows (channels) sr0 + 16 mt + g (+8), columns sc0 + 8 nt + 2 t4 (+1).
// Copies them to the bf16 DK x BV tile and multiplies them by the block decay 2^b_last of their row.
template <int MT>
static __device__ __forceinline__ void state_copy_decay(float (&st)[MT][4][4], char* sS, const float* vec, int sr0, int sc0, int lane) {
  const int g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt) {
    const int row = sr0 + 16 * mt + g;
    const float d0 = vec[VDEC + row], d1 = vec[VDEC + row + 8];
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      const int col = sc0 + 8 * nt + 2 * t4;
      if (sS) {
        st_pair<BV>(sS, row, col, st[mt][nt][0], st[mt][nt][1]);
        st_pair<BV>(sS, row + 8, col, st[mt][nt][2], st[mt][nt][3]);
      }
      st[mt][nt][0] *= d0; st[mt][nt][1] *= d0;
      st[mt][nt][2] *= d1; st[mt][nt][3] *= d1;
    }
  }
}

// state registers <-> global [K][V] f32 at st (this CTA's columns start at e0)
template <int MT>
static __device__ __forceinline__ void state_load(float (&s)[MT][4][4], const float* st, int K, int V, int e0, int sr0, int sc0, int lane) {
  const int g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int row = sr0 + 16 * mt + g + ((c & 2) ? 8 : 0);
        const int col = e0 + sc0 + 8 * nt + 2 * t4 + (c & 1);
        s[mt][nt][c] = (st && row < K && col < V) ? st[(long long)row * V + col] : 0.f;
      }
}

template <int MT>
static __device__ __forceinline__ void state_store(const float (&s)[MT][4][4], float* st, int K, int V, int e0, int sr0, int sc0, int lane) {
  const int g = lane >> 2, t4 = lane & 3;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const int row = sr0 + 16 * mt + g + 8 * hr;
        const int col = e0 + sc0 + 8 * nt + 2 * t4;
        if (row < K && col < V) *reinterpret_cast<float2*>(st + (long long)row * V + col) = make_float2(s[mt][nt][2 * hr], s[mt][nt][2 * hr + 1]);
      }
}

// S += (K2 * K3)^T V over the block: state rows sr0.., columns sc0.. (tokens of sub-chunk kk carry K3_kk)
template <int MT>
static __device__ __forceinline__ void state_update_kv(float (&s)[MT][4][4], u32 aK2, u32 aV, const float* vec, int sr0, int sc0, int lane) {
  const int g = lane >> 2;
#pragma unroll
  for (int kk = 0; kk < CB / 16; ++kk) {
    u32 ka[MT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      ldsm4t(ka[mt], addrAT<DK>(aK2, sr0 + 16 * mt, 16 * kk, lane));
      const float f0 = vec[VK3 + kk * DK + sr0 + 16 * mt + g], f1 = vec[VK3 + kk * DK + sr0 + 16 * mt + g + 8];
      ka[mt][0] = scale_bf16x2(ka[mt][0], f0, f0);
      ka[mt][2] = scale_bf16x2(ka[mt][2], f0, f0);
      ka[mt][1] = scale_bf16x2(ka[mt][1], f1, f1);
      ka[mt][3] = scale_bf16x2(ka[mt][3], f1, f1);
    }
#pragma unroll
    for (int np = 0; np < 2; ++np) {
      u32 bb[4];
      ldsm4t(bb, addrBT<BV>(aV, sc0 + 16 * np, 16 * kk, lane));
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        mma16816(s[mt][2 * np], ka[mt], bb[0], bb[1]);
        mma16816(s[mt][2 * np + 1], ka[mt], bb[2], bb[3]);
      }
    }
  }
}

// Two n-tiles (B regs 0,1 and 2,3) of (Ah + Al)(Bh + Bl) without Al Bl, summed in f32 and added to c0, c1 after
// multiplying column n by fac[n] (fac at this lane's first column, 2 t4; the second n-tile is 8 columns on).
static __device__ __forceinline__ void mma_split_scaled(float* c0, float* c1, const u32* ah, const u32* al, const u32* bh, const u32* bl,
    const float* fac) {
  float t[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
  mma16816(t[0], ah, bh[0], bh[1]);
  mma16816(t[1], ah, bh[2], bh[3]);
  mma16816(t[0], al, bh[0], bh[1]);
  mma16816(t[1], al, bh[2], bh[3]);
  mma16816(t[0], ah, bl[0], bl[1]);
  mma16816(t[1], ah, bl[2], bl[3]);
  const float2 f0 = *reinterpret_cast<const float2*>(fac), f1 = *reinterpret_cast<const float2*>(fac + 8);
  c0[0] += t[0][0] * f0.x; c0[1] += t[0][1] * f0.y; c0[2] += t[0][2] * f0.x; c0[3] += t[0][3] * f0.y;
  c1[0] += t[1][0] * f1.x; c1[1] += t[1][1] * f1.y; c1[2] += t[1][2] * f1.x; c1[3] += t[1][3] * f1.y;
}

// ---------------------------------------------------------------------------------------------
// Forward walk. mode 0: o from the entering states (states[seg], or none), final state of each sequence's
// last segment into finalState[seq] (when not null). mode 1: the segment's local state (from zero) into
// localOut[seg] and its log2 decay into segDecay[seg] (value tile 0 only).
// Grid: (ceil(V / BV), segments, H); 256 threads.
extern "C" __global__ void __launch_bounds__(NTH, 1)
gla_fwd(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, const void* __restrict__ gk, int gF32,
        bf16* __restrict__ o, const float* __restrict__ states, float* __restrict__ finalState, float* __restrict__ localOut,
        float* __restrict__ segDecay, const int* __restrict__ segTab, float scale, int H, int K, int V, int mode,
        long long* __restrict__ prof) {
  extern __shared__ __align__(128) char smem[];
  char* rawQ = smem;
  char* rawK = rawQ + QT;
  char* rawG = rawK + QT;
  char* sQ1 = rawG + GT;
  char* sK2 = sQ1 + QT;
  char* sV = sK2 + QT;
  char* sS = sV + 2 * VTB;
  char* sP = sS + STB;
  float* beta = reinterpret_cast<float*>(sP + PT);
  float* vec = beta + CB * SB;
  u32* umask = reinterpret_cast<u32*>(vec + NVEC);

  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, wr = w & 3, wc = w >> 2;
  const int g = lane >> 2, t4 = lane & 3;
  const int vt = blockIdx.x, seg = blockIdx.y, h = blockIdx.z;
  const int tBeg = segTab[4 * seg], tEnd = segTab[4 * seg + 1], seq = segTab[4 * seg + 2], flags = segTab[4 * seg + 3];
  const int e0 = vt * BV;
  const bool full = mode == 0;
  const long long rsk = (long long)H * K, rsv = (long long)H * V;
  const bf16* qh = q + (long long)h * K;
  const bf16* kh = k + (long long)h * K;
  const char* gh = reinterpret_cast<const char*>(gk) + (long long)h * K * (gF32 ? 4 : 2);
  const bf16* vh = v + (long long)h * V + e0;
  constexpr int MT = DK / 64;
  const int sr0 = wr * (DK / 4), sc0 = wc * 32;
  const long long kv = (long long)K * V;

  float sacc[MT][4][4];
  state_load<MT>(sacc, (full && states) ? states + ((long long)seg * H + h) * kv : nullptr, K, V, e0, sr0, sc0, lane);
  if (tid < DK) vec[VSEG + tid] = 0.f;

  const int nblk = (tEnd - tBeg + CB - 1) / CB;
  if (full) load_tile<DK>(smem_u32(rawQ), qh, rsk, tBeg, tEnd, K, tid);
  load_tile<DK>(smem_u32(rawK), kh, rsk, tBeg, tEnd, K, tid);
  load_g(smem_u32(rawG), gh, gF32, rsk, tBeg, tEnd, K, tid);
  load_tile<BV>(smem_u32(sV), vh, rsv, tBeg, tEnd, V - e0, tid);
  cp_async_commit();
  const u32 aQ1 = smem_u32(sQ1), aK2 = smem_u32(sK2), aS = smem_u32(sS), aP = smem_u32(sP);

  for (int blk = 0; blk < nblk; ++blk) {
    const int stg = blk & 1;
    const int t0 = tBeg + blk * CB;
    const int L = min(CB, tEnd - t0);
    PROF(blk, 0);
    cp_async_wait_all();
    __syncthreads();
    PROF(blk, 1);
    transform1(rawQ, rawK, rawG, gF32, sQ1, nullptr, sK2, nullptr, beta, full, true, tid);
    __syncthreads();
    PROF(blk, 2);
    transform2(beta, vec, umask, tid);
    __syncthreads();
    PROF(blk, 3);
    if (blk + 1 < nblk) {
      const int tn = t0 + CB;
      if (full) load_tile<DK>(smem_u32(rawQ), qh, rsk, tn, tEnd, K, tid);
      load_tile<DK>(smem_u32(rawK), kh, rsk, tn, tEnd, K, tid);
      load_g(smem_u32(rawG), gh, gF32, rsk, tn, tEnd, K, tid);
      load_tile<BV>(smem_u32(sV + (stg ^ 1) * VTB), vh, rsv, tn, tEnd, V - e0, tid);
    }
    cp_async_commit();
    const u32 aV = smem_u32(sV + stg * VTB);

    if (!full) {
      state_copy_decay<MT>(sacc, nullptr, vec, sr0, sc0, lane);
      state_update_kv<MT>(sacc, aK2, aV, vec, sr0, sc0, lane);
      continue;
    }
    // 1. bf16 copy of the entering state; decay the registers by 2^b_last
    state_copy_decay<MT>(sacc, sS, vec, sr0, sc0, lane);
    // 2. scores of rows I = wr
    u32 qa[DK / 16][4];
#pragma unroll
    for (int kk = 0; kk < DK / 16; ++kk) ldsm4(qa[kk], addrA<DK>(aQ1, 16 * wr, 16 * kk, lane));
    qk_scores(qa, aK2, vec, umask, beta, sP, scale, wr, wc, lane, qh, kh, rsk, t0, L);
    __syncthreads();
    PROF(blk, 4);
    // 3. inter: scale * (Q1 * F_I) S_in, rows I, value columns sc0..
    float oacc[4][4];
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) oacc[nt][c] = 0.f;
#pragma unroll
    for (int kk = 0; kk < DK / 16; ++kk) {
      const int c = 16 * kk + 2 * t4;
      const float2 f01 = *reinterpret_cast<const float2*>(vec + VF + wr * DK + c);
      const float2 f89 = *reinterpret_cast<const float2*>(vec + VF + wr * DK + c + 8);
      u32 a[4];
      a[0] = scale_bf16x2(qa[kk][0], f01.x * scale, f01.y * scale);
      a[1] = scale_bf16x2(qa[kk][1], f01.x * scale, f01.y * scale);
      a[2] = scale_bf16x2(qa[kk][2], f89.x * scale, f89.y * scale);
      a[3] = scale_bf16x2(qa[kk][3], f89.x * scale, f89.y * scale);
#pragma unroll
      for (int np = 0; np < 2; ++np) {
        u32 bb[4];
        ldsm4t(bb, addrBT<BV>(aS, sc0 + 16 * np, 16 * kk, lane));
        mma16816(oacc[2 * np], a, bb[0], bb[1]);
        mma16816(oacc[2 * np + 1], a, bb[2], bb[3]);
      }
    }
    // 4. intra: P V over the column sub-chunks J <= I
#pragma unroll
    for (int kk = 0; kk < CB / 16; ++kk) {
      if (kk > wr) break;
      u32 pa[4];
      ldsm4(pa, addrA<CB>(aP, 16 * wr, 16 * kk, lane));
#pragma unroll
      for (int np = 0; np < 2; ++np) {
        u32 bb[4];
        ldsm4t(bb, addrBT<BV>(aV, sc0 + 16 * np, 16 * kk, lane));
        mma16816(oacc[2 * np], pa, bb[0], bb[1]);
        mma16816(oacc[2 * np + 1], pa, bb[2], bb[3]);
      }
    }
    // 5. the state update, then the output rows of this warp
    state_update_kv<MT>(sacc, aK2, aV, vec, sr0, sc0, lane);
    bf16* ob = o + (long long)h * V + e0;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
      const int col = sc0 + 8 * nt + 2 * t4;
      if (e0 + col >= V) continue;
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const int r = 16 * wr + g + 8 * hr;
        if (r < L) *reinterpret_cast<u32*>(ob + (long long)(t0 + r) * rsv + col) = pack_bf16(oacc[nt][2 * hr], oacc[nt][2 * hr + 1]);
      }
    }
    PROF(blk, 5);
  }
  if (full) {
    if (finalState && (flags & 2)) state_store<MT>(sacc, finalState + ((long long)seq * H + h) * kv, K, V, e0, sr0, sc0, lane);
  } else {
    state_store<MT>(sacc, localOut + ((long long)seg * H + h) * kv, K, V, e0, sr0, sc0, lane);
    if (vt == 0 && tid < K) segDecay[((long long)seg * H + h) * K + tid] = vec[VSEG + tid];
  }
}

// ---------------------------------------------------------------------------------------------
// Scan over the segments of each sequence, in place on [segments, H, K, V] f32, with per-channel decays
// segDecay [segments, H, K] (log2).
//   forward : slot j <- E_j; E_{j+1} = 2^D_j E_j + L_j; E_0 = init (S0) or 0; out = E_last+1 (final state)
//   reverse : slot j <- G_j; G_{j-1} = 2^D_j G_j + L_j; G_last = init (dS_T) or 0; out = G_-1 (dS0)
// Grid: (ceil(K*V/4 / 256), H, sequences).
extern "C" __global__ void __launch_bounds__(256)
gla_state_scan(float* __restrict__ states, const float* __restrict__ segDecay, const float* __restrict__ init,
               float* __restrict__ out, const int* __restrict__ seqTab, int H, int K, int V, int reverse) {
  const int i4 = blockIdx.x * 256 + threadIdx.x;
  const int nkv = K * V;
  if (4 * i4 >= nkv) return;
  const int h = blockIdx.y, n = blockIdx.z;
  const int first = seqTab[4 * n + 2], ns = seqTab[4 * n + 3];
  const int c = (4 * i4) / V;
  float4 run = make_float4(0.f, 0.f, 0.f, 0.f);
  if (init) run = *reinterpret_cast<const float4*>(init + ((long long)n * H + h) * nkv + 4 * i4);
  for (int jj = 0; jj < ns; ++jj) {
    const int j = reverse ? ns - 1 - jj : jj;
    const long long sh = (long long)(first + j) * H + h;
    float4* p = reinterpret_cast<float4*>(states + sh * nkv + 4 * i4);
    const float4 l = *p;
    *p = run;
    const float d = ex2(segDecay[sh * K + c]);
    run.x = d * run.x + l.x; run.y = d * run.y + l.y; run.z = d * run.z + l.z; run.w = d * run.w + l.w;
  }
  if (out) *reinterpret_cast<float4*>(out + ((long long)n * H + h) * nkv + 4 * i4) = run;
}

// ---------------------------------------------------------------------------------------------
// dq walk (forwards from the entering forward states): dq partial sums over this CTA's value columns,
//   dq_i = F1_i * [ sum_{J<=I} (dP_IJ K2_J) * E'_IJ + scale F_I (dO_I S_in^T) ],   F1_i = 2^(beta_i - beta_I0)
// (E'_II = X_I), f32 into dqPart [NVT, NTOK, H, K]. The intra-block products carry ~16 bits (dP and K2 as bf16
// hi + lo, three products, the per-channel factor E' applied to each sub-chunk's f32 sum): dg, formed from q dq
// - k dk, is a difference of such terms. The state entering every block goes to the bf16 state slots (slots,
// [slots, H, K, V]) for the dk/dv walk.
extern "C" __global__ void __launch_bounds__(NTH, 1)
gla_dq(const bf16* __restrict__ k, const bf16* __restrict__ v, const void* __restrict__ gk, int gF32, const bf16* __restrict__ dout,
       const float* __restrict__ states, float* __restrict__ dqPart, bf16* __restrict__ slots, const int* __restrict__ segTab,
       float scale, int H, int K, int V, long long ntok, long long* __restrict__ prof) {
  extern __shared__ __align__(128) char smem[];
  char* rawK = smem;
  char* rawG = rawK + QT;
  char* sK2 = rawG + GT;
  char* sK2lo = sK2 + QT;
  char* sV = sK2lo + QT;
  char* sD = sV + 2 * VTB;
  char* sS = sD + 2 * VTB;
  char* sP = sS + STB;
  char* sPlo = sP + PT;
  float* beta = reinterpret_cast<float*>(sPlo + PT);
  float* vec = beta + CB * SB;
  u32* umask = reinterpret_cast<u32*>(vec + NVEC);

  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, wr = w & 3, wc = w >> 2;
  const int g = lane >> 2, t4 = lane & 3;
  const int vt = blockIdx.x, seg = blockIdx.y, h = blockIdx.z;
  const int tBeg = segTab[4 * seg], tEnd = segTab[4 * seg + 1];
  const int e0 = vt * BV;
  const long long rsk = (long long)H * K, rsv = (long long)H * V;
  const bf16* kh = k + (long long)h * K;
  const char* gh = reinterpret_cast<const char*>(gk) + (long long)h * K * (gF32 ? 4 : 2);
  const bf16* vh = v + (long long)h * V + e0;
  const bf16* dh = dout + (long long)h * V + e0;
  float* dqh = dqPart + (long long)vt * ntok * rsk + (long long)h * K;
  constexpr int MT = DK / 64, NQT = DK / 16;  // state m-tiles; dq n-tiles per warp (DK/2 columns)
  const int sr0 = wr * (DK / 4), sc0 = wc * 32, cq0 = wc * (DK / 2);
  const long long kv = (long long)K * V;
  bf16* slotH = slots + (long long)h * kv;

  float sacc[MT][4][4];
  state_load<MT>(sacc, states ? states + ((long long)seg * H + h) * kv : nullptr, K, V, e0, sr0, sc0, lane);
  if (tid < DK) vec[VSEG + tid] = 0.f;

  const int nblk = (tEnd - tBeg + CB - 1) / CB;
  load_tile<DK>(smem_u32(rawK), kh, rsk, tBeg, tEnd, K, tid);
  load_g(smem_u32(rawG), gh, gF32, rsk, tBeg, tEnd, K, tid);
  load_tile<BV>(smem_u32(sV), vh, rsv, tBeg, tEnd, V - e0, tid);
  load_tile<BV>(smem_u32(sD), dh, rsv, tBeg, tEnd, V - e0, tid);
  cp_async_commit();
  const u32 aK2 = smem_u32(sK2), aK2lo = smem_u32(sK2lo), aS = smem_u32(sS), aP = smem_u32(sP), aPlo = smem_u32(sPlo);

  for (int blk = 0; blk < nblk; ++blk) {
    const int stg = blk & 1;
    const int t0 = tBeg + blk * CB;
    const int L = min(CB, tEnd - t0);
    PROF(blk, 0);
    slot_store<MT>(sacc, slotH + slot_of(tBeg, seg, blk) * H * kv, K, V, e0, sr0, sc0, lane);
    cp_async_wait_all();
    __syncthreads();
    PROF(blk, 1);
    transform1(nullptr, rawK, rawG, gF32, nullptr, nullptr, sK2, sK2lo, beta, false, true, tid);
    __syncthreads();
    PROF(blk, 2);
    transform2(beta, vec, umask, tid);
    __syncthreads();
    PROF(blk, 3);
    if (blk + 1 < nblk) {
      const int tn = t0 + CB;
      load_tile<DK>(smem_u32(rawK), kh, rsk, tn, tEnd, K, tid);
      load_g(smem_u32(rawG), gh, gF32, rsk, tn, tEnd, K, tid);
      load_tile<BV>(smem_u32(sV + (stg ^ 1) * VTB), vh, rsv, tn, tEnd, V - e0, tid);
      load_tile<BV>(smem_u32(sD + (stg ^ 1) * VTB), dh, rsv, tn, tEnd, V - e0, tid);
    }
    cp_async_commit();
    const u32 aV = smem_u32(sV + stg * VTB), aD = smem_u32(sD + stg * VTB);

    // 1. bf16 copy of the entering state; decay the registers
    state_copy_decay<MT>(sacc, sS, vec, sr0, sc0, lane);
    // 2. dP rows I = wr (hi and lo)
    u32 da[BV / 16][4];
#pragma unroll
    for (int kk = 0; kk < BV / 16; ++kk) ldsm4(da[kk], addrA<BV>(aD, 16 * wr, 16 * kk, lane));
    dov_scores(da, aV, sP, sPlo, scale, wr, wc, lane);
    __syncthreads();
    PROF(blk, 4);
    // 3. inter: dO_I S_in^T (k = value columns), then the column factors scale * F_I
    float acc[NQT][4];
#pragma unroll
    for (int nt = 0; nt < NQT; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[nt][c] = 0.f;
#pragma unroll
    for (int kk = 0; kk < BV / 16; ++kk)
#pragma unroll
      for (int np = 0; np < NQT / 2; ++np) {
        u32 bb[4];
        ldsm4(bb, addrB<BV>(aS, cq0 + 16 * np, 16 * kk, lane));
        mma16816(acc[2 * np], da[kk], bb[0], bb[1]);
        mma16816(acc[2 * np + 1], da[kk], bb[2], bb[3]);
      }
#pragma unroll
    for (int nt = 0; nt < NQT; ++nt) {
      const int c = cq0 + 8 * nt + 2 * t4;
      const float f0 = scale * vec[VF + wr * DK + c], f1 = scale * vec[VF + wr * DK + c + 1];
      acc[nt][0] *= f0; acc[nt][1] *= f1; acc[nt][2] *= f0; acc[nt][3] *= f1;
    }
    // 4. intra: sum_{J <= I} (dP_IJ K2_J) * E'_IJ (B = K2 [j][c], n = channel), hi/lo products per sub-chunk J
#pragma unroll
    for (int J = 0; J < 4; ++J) {
      if (J > wr) break;
      u32 ph[4], pl[4];
      ldsm4(ph, addrA<CB>(aP, 16 * wr, 16 * J, lane));
      ldsm4(pl, addrA<CB>(aPlo, 16 * wr, 16 * J, lane));
      const float* fac = (J == wr) ? vec + VX + wr * DK : vec + VE + epair(wr, J) * DK;
#pragma unroll
      for (int np = 0; np < NQT / 2; ++np) {
        u32 bh[4], bl[4];
        ldsm4t(bh, addrBT<DK>(aK2, cq0 + 16 * np, 16 * J, lane));
        ldsm4t(bl, addrBT<DK>(aK2lo, cq0 + 16 * np, 16 * J, lane));
        mma_split_scaled(acc[2 * np], acc[2 * np + 1], ph, pl, bh, bl, fac + cq0 + 16 * np + 2 * t4);
      }
    }
    // 5. F1 = 2^(beta_i - beta_I0); exact diagonal terms of unsafe channels; store
#pragma unroll
    for (int nt = 0; nt < NQT; ++nt) {
      const int c = cq0 + 8 * nt + 2 * t4;
      const float2 b0 = *reinterpret_cast<const float2*>(beta + (16 * wr) * SB + c);
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const float2 bi = *reinterpret_cast<const float2*>(beta + (16 * wr + g + 8 * hr) * SB + c);
        acc[nt][2 * hr] *= ex2(bi.x - b0.x);
        acc[nt][2 * hr + 1] *= ex2(bi.y - b0.y);
      }
    }
#pragma unroll 1
    for (int wd = 0; wd < DK / 32; ++wd) {
      u32 m = umask[wr * (DK / 32) + wd];
      while (m) {
        const int c = 32 * wd + __ffs(m) - 1;
        m &= m - 1;
        if (c < cq0 || c >= cq0 + DK / 2 || (((c - cq0) & 7) >> 1) != t4) continue;
        const int nt = (c - cq0) >> 3, e = c & 1;
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
          const int ri = 16 * wr + g + 8 * hr;
          const float bi = beta[ri * SB + c];
          float sum = 0.f;
          for (int j = 0; j <= g + 8 * hr; ++j) {
            const int rj = 16 * wr + j;
            if (rj >= L) break;
            sum += (p_at(sP, ri, rj) + p_at(sPlo, ri, rj)) * __bfloat162float(kh[(long long)(t0 + rj) * rsk + c]) * ex2(bi - beta[rj * SB + c]);
          }
#pragma unroll
          for (int x = 0; x < NQT; ++x) {
            if (nt != x) continue;
            if (e) acc[x][2 * hr + 1] += sum;
            else acc[x][2 * hr] += sum;
          }
        }
      }
    }
#pragma unroll
    for (int nt = 0; nt < NQT; ++nt) {
      const int c = cq0 + 8 * nt + 2 * t4;
      if (c >= K) continue;
#pragma unroll
      for (int hr = 0; hr < 2; ++hr) {
        const int r = 16 * wr + g + 8 * hr;
        if (r < L) *reinterpret_cast<float2*>(dqh + (long long)(t0 + r) * rsk + c) = make_float2(acc[nt][2 * hr], acc[nt][2 * hr + 1]);
      }
    }
    PROF(blk, 5);
    // 6. the state update
    state_update_kv<MT>(sacc, aK2, aV, vec, sr0, sc0, lane);
    PROF(blk, 6);
  }
}

// ---------------------------------------------------------------------------------------------
// dk/dv walk (backwards from the entering gradient state G: the gradient of the state at the segment's
// last token from later tokens; dstates[seg], or none). Per block, with G_end the state after it:
//   dv_J = sum_{I>=J} A_IJ^T dO_I + (K2_J * K3_J) G_end
//   dk_J = F2_J * [ sum_{I>=J} (dP_IJ^T Q1_I) * E'_IJ + K3_J * (V_J G_end^T) ],  F2_j = 2^(beta_Jend - beta_j)
//   G_in = 2^b_last G_end + sum_I (scale Q1_I F_I)^T dO_I
// (the intra-block dk products carry ~16 bits, as dq's). mode 0: dv (bf16, this CTA's columns), dk partial sums
// f32 into dkPart [NVT, NTOK, H, K], G at the start of each sequence's first segment into dS0[seq] (when not
// null), and per block, over this CTA's columns,
//   W_c = sum_e 2^b_last S_in G_end + sum_{j in the block} k_j dkout_j,   dkout = F2 K3 (V G_end^T)
// into wPart [NVT, nslots, H, K] at the block's slot (S_in from the state slots the dq walk wrote). W is the
// gradient of the log decay at the block's end, summed so that it cancels dkout's share of the finish's
// reverse cumsum of (q dq - k dk) exactly: dg_t = W + sum_{u >= t} (q dq - k dk)_u then holds the paths through
// t only (S_in -> G_end, S_in -> u >= t, j < t -> G_end, j < t <= i), none of them a difference of large terms.
// mode 1 (gradient states only): from zero, the segment's local gradient state into localOut[seg] and its log2
// decay into segDecay[seg].
extern "C" __global__ void __launch_bounds__(NTH, 1)
gla_dkdv(const bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v, const void* __restrict__ gk, int gF32,
         const bf16* __restrict__ dout, const float* __restrict__ dstates, bf16* __restrict__ dv, float* __restrict__ dkPart,
         float* __restrict__ dS0, const bf16* __restrict__ slots, float* __restrict__ wPart, float* __restrict__ localOut,
         float* __restrict__ segDecay, const int* __restrict__ segTab, float scale, int H, int K, int V, long long ntok,
         long long nslots, int mode, long long* __restrict__ prof) {
  extern __shared__ __align__(128) char smem[];
  char* rawQ = smem;
  char* rawK = rawQ + QT;
  char* rawG = rawK + QT;
  char* sQ1 = rawG + GT;
  char* sQ1lo = sQ1 + QT;
  char* sK2 = sQ1lo + QT;
  char* sV = sK2 + QT;
  char* sD = sV + 2 * VTB;
  char* sG = sD + 2 * VTB;
  char* sP = sG + STB;       // A (scores) for dv, then dP (hi) for dk
  char* sPlo = sP + PT;
  float* beta = reinterpret_cast<float*>(sPlo + PT);
  float* vec = beta + CB * SB;
  u32* umask = reinterpret_cast<u32*>(vec + NVEC);
  float* zsum = reinterpret_cast<float*>(umask + 4 * (DK / 32));  // [2][DK]: the wc = 1 half, then the whole row
  float* osum = zsum + 2 * DK;                                        // [4][DK]: sum_j k_j dkout_j per row sub-chunk

  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, wr = w & 3, wc = w >> 2;
  const int g = lane >> 2, t4 = lane & 3;
  const int vt = blockIdx.x, seg = blockIdx.y, h = blockIdx.z;
  const int tBeg = segTab[4 * seg], tEnd = segTab[4 * seg + 1], seq = segTab[4 * seg + 2], flags = segTab[4 * seg + 3];
  const int e0 = vt * BV;
  const bool full = mode == 0;
  const long long rsk = (long long)H * K, rsv = (long long)H * V;
  const bf16* qh = q + (long long)h * K;
  const bf16* kh = k + (long long)h * K;
  const char* gh = reinterpret_cast<const char*>(gk) + (long long)h * K * (gF32 ? 4 : 2);
  const bf16* vh = v + (long long)h * V + e0;
  const bf16* dh = dout + (long long)h * V + e0;
  constexpr int MT = DK / 64, NQT = DK / 16;
  const int sr0 = wr * (DK / 4), sc0 = wc * 32, cq0 = wc * (DK / 2);
  const long long kv = (long long)K * V;
  const bf16* slotH = slots + (long long)h * kv;

  float gacc[MT][4][4];
  state_load<MT>(gacc, (full && dstates) ? dstates + ((long long)seg * H + h) * kv : nullptr, K, V, e0, sr0, sc0, lane);
  if (tid < DK) vec[VSEG + tid] = 0.f;

  const int nblk = (tEnd - tBeg + CB - 1) / CB;
  u32 sin[MT][4][2];  // the bf16 state entering the block being walked (prefetched one block ahead)
  if (full) slot_load<MT>(sin, slotH + slot_of(tBeg, seg, nblk - 1) * H * kv, K, V, e0, sr0, sc0, lane);
  {
    const int t0 = tBeg + (nblk - 1) * CB;
    load_tile<DK>(smem_u32(rawQ), qh, rsk, t0, tEnd, K, tid);
    if (full) load_tile<DK>(smem_u32(rawK), kh, rsk, t0, tEnd, K, tid);
    load_g(smem_u32(rawG), gh, gF32, rsk, t0, tEnd, K, tid);
    if (full) load_tile<BV>(smem_u32(sV), vh, rsv, t0, tEnd, V - e0, tid);
    load_tile<BV>(smem_u32(sD), dh, rsv, t0, tEnd, V - e0, tid);
    cp_async_commit();
  }
  const u32 aQ1 = smem_u32(sQ1), aQ1lo = smem_u32(sQ1lo), aK2 = smem_u32(sK2), aG = smem_u32(sG), aP = smem_u32(sP), aPlo = smem_u32(sPlo);

  for (int it = 0; it < nblk; ++it) {
    const int blk = nblk - 1 - it;
    const int stg = it & 1;
    const int t0 = tBeg + blk * CB;
    const int L = min(CB, tEnd - t0);
    PROF(it, 0);
    // 0. sum_e S_in G_end over this warp's columns, per state row (the wc = 1 half through zsum)
    float zrow[MT][2];
    if (full) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
          float p = 0.f;
#pragma unroll
          for (int nt = 0; nt < 4; ++nt) {
            const float2 sv = unpack_bf16(sin[mt][nt][hr]);
            p += sv.x * gacc[mt][nt][2 * hr] + sv.y * gacc[mt][nt][2 * hr + 1];
          }
          p += __shfl_xor_sync(0xffffffffu, p, 1);
          p += __shfl_xor_sync(0xffffffffu, p, 2);
          zrow[mt][hr] = p;
          if (wc == 1 && t4 == 0) zsum[sr0 + 16 * mt + g + 8 * hr] = p;
        }
    }
    cp_async_wait_all();
    __syncthreads();
    PROF(it, 1);
    transform1(rawQ, rawK, rawG, gF32, sQ1, full ? sQ1lo : nullptr, sK2, nullptr, beta, true, full, tid);
    __syncthreads();
    PROF(it, 2);
    transform2(beta, vec, umask, tid);
    __syncthreads();
    PROF(it, 3);
    if (full && wc == 0 && t4 == 0) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int hr = 0; hr < 2; ++hr) {
          const int row = sr0 + 16 * mt + g + 8 * hr;
          zsum[DK + row] = (zrow[mt][hr] + zsum[row]) * vec[VDEC + row];
        }
    }
    if (blk > 0) {
      const int tn = t0 - CB;
      load_tile<DK>(smem_u32(rawQ), qh, rsk, tn, tEnd, K, tid);
      if (full) load_tile<DK>(smem_u32(rawK), kh, rsk, tn, tEnd, K, tid);
      load_g(smem_u32(rawG), gh, gF32, rsk, tn, tEnd, K, tid);
      if (full) load_tile<BV>(smem_u32(sV + (stg ^ 1) * VTB), vh, rsv, tn, tEnd, V - e0, tid);
      load_tile<BV>(smem_u32(sD + (stg ^ 1) * VTB), dh, rsv, tn, tEnd, V - e0, tid);
    }
    cp_async_commit();
    const u32 aV = smem_u32(sV + stg * VTB), aD = smem_u32(sD + stg * VTB);

    // 1. bf16 copy of G_end; decay the registers by 2^b_last
    state_copy_decay<MT>(gacc, full ? sG : nullptr, vec, sr0, sc0, lane);
    if (full) {
      // 2. A (forward scores) into sP, rows I = wr
      {
        u32 qa[DK / 16][4];
#pragma unroll
        for (int kk = 0; kk < DK / 16; ++kk) ldsm4(qa[kk], addrA<DK>(aQ1, 16 * wr, 16 * kk, lane));
        qk_scores(qa, aK2, vec, umask, beta, sP, scale, wr, wc, lane, qh, kh, rsk, t0, L);
      }
      __syncthreads();
      PROF(it, 4);
      // 3. dv rows J = wr, value columns sc0..
      {
        float acc[4][4];
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
          for (int c = 0; c < 4; ++c) acc[nt][c] = 0.f;
#pragma unroll
        for (int kk = 0; kk < DK / 16; ++kk) {
          u32 a[4];
          ldsm4(a, addrA<DK>(aK2, 16 * wr, 16 * kk, lane));
          const int c = 16 * kk + 2 * t4;
          const float2 f01 = *reinterpret_cast<const float2*>(vec + VK3 + wr * DK + c);
          const float2 f89 = *reinterpret_cast<const float2*>(vec + VK3 + wr * DK + c + 8);
          a[0] = scale_bf16x2(a[0], f01.x, f01.y);
          a[1] = scale_bf16x2(a[1], f01.x, f01.y);
          a[2] = scale_bf16x2(a[2], f89.x, f89.y);
          a[3] = scale_bf16x2(a[3], f89.x, f89.y);
#pragma unroll
          for (int np = 0; np < 2; ++np) {
            u32 bb[4];
            ldsm4t(bb, addrBT<BV>(aG, sc0 + 16 * np, 16 * kk, lane));
            mma16816(acc[2 * np], a, bb[0], bb[1]);
            mma16816(acc[2 * np + 1], a, bb[2], bb[3]);
          }
        }
#pragma unroll
        for (int I = 0; I < 4; ++I) {
          if (I < wr) continue;
          u32 a[4];
          ldsm4t(a, addrAT<CB>(aP, 16 * wr, 16 * I, lane));
#pragma unroll
          for (int np = 0; np < 2; ++np) {
            u32 bb[4];
            ldsm4t(bb, addrBT<BV>(aD, sc0 + 16 * np, 16 * I, lane));
            mma16816(acc[2 * np], a, bb[0], bb[1]);
            mma16816(acc[2 * np + 1], a, bb[2], bb[3]);
          }
        }
        bf16* db = dv + (long long)h * V + e0;
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
          const int col = sc0 + 8 * nt + 2 * t4;
          if (e0 + col >= V) continue;
#pragma unroll
          for (int hr = 0; hr < 2; ++hr) {
            const int r = 16 * wr + g + 8 * hr;
            if (r < L) *reinterpret_cast<u32*>(db + (long long)(t0 + r) * rsv + col) = pack_bf16(acc[nt][2 * hr], acc[nt][2 * hr + 1]);
          }
        }
      }
      __syncthreads();
      PROF(it, 5);
      // 4. dP (hi, lo) over A, rows I = wr
      {
        u32 da[BV / 16][4];
#pragma unroll
        for (int kk = 0; kk < BV / 16; ++kk) ldsm4(da[kk], addrA<BV>(aD, 16 * wr, 16 * kk, lane));
        dov_scores(da, aV, sP, sPlo, scale, wr, wc, lane);
      }
      __syncthreads();
      PROF(it, 6);
      // 5. dk rows J = wr, channel columns cq0..: intra (hi/lo products) times F2, then dkout = F2 K3 (V G^T),
      //    whose k-weighted column sums over the block go to osum
      {
        float acc[NQT][4];
#pragma unroll
        for (int nt = 0; nt < NQT; ++nt)
#pragma unroll
          for (int c = 0; c < 4; ++c) acc[nt][c] = 0.f;
#pragma unroll
        for (int I = 0; I < 4; ++I) {
          if (I < wr) continue;
          u32 ah[4], al[4];
          ldsm4t(ah, addrAT<CB>(aP, 16 * wr, 16 * I, lane));
          ldsm4t(al, addrAT<CB>(aPlo, 16 * wr, 16 * I, lane));
          const float* fac = (I == wr) ? vec + VX + wr * DK : vec + VE + epair(I, wr) * DK;
#pragma unroll
          for (int np = 0; np < NQT / 2; ++np) {
            u32 bh[4], bl[4];
            ldsm4t(bh, addrBT<DK>(aQ1, cq0 + 16 * np, 16 * I, lane));
            ldsm4t(bl, addrBT<DK>(aQ1lo, cq0 + 16 * np, 16 * I, lane));
            mma_split_scaled(acc[2 * np], acc[2 * np + 1], ah, al, bh, bl, fac + cq0 + 16 * np + 2 * t4);
          }
        }
#pragma unroll
        for (int np = 0; np < NQT / 2; ++np) {
          u32 kx[2][2];  // k at this lane's (row g + 8 hr, column pair of n-tile 2 np + x), from L2
#pragma unroll
          for (int hr = 0; hr < 2; ++hr)
#pragma unroll
            for (int x = 0; x < 2; ++x) {
              const int r = 16 * wr + g + 8 * hr, c = cq0 + 16 * np + 8 * x + 2 * t4;
              kx[hr][x] = (r < L && c < K) ? *reinterpret_cast<const u32*>(kh + (long long)(t0 + r) * rsk + c) : 0u;
            }
          float t[2][4] = {{0.f, 0.f, 0.f, 0.f}, {0.f, 0.f, 0.f, 0.f}};
#pragma unroll
          for (int kk = 0; kk < BV / 16; ++kk) {
            u32 va[4], bb[4];
            ldsm4(va, addrA<BV>(aV, 16 * wr, 16 * kk, lane));
            ldsm4(bb, addrB<BV>(aG, cq0 + 16 * np, 16 * kk, lane));
            mma16816(t[0], va, bb[0], bb[1]);
            mma16816(t[1], va, bb[2], bb[3]);
          }
          float cs[2][2];  // sum over this lane's rows of k dkout, per column
#pragma unroll
          for (int x = 0; x < 2; ++x) {
            const int c = cq0 + 16 * np + 8 * x + 2 * t4;
            const float2 k3 = *reinterpret_cast<const float2*>(vec + VK3 + wr * DK + c);
            const float2 be = *reinterpret_cast<const float2*>(beta + (16 * wr + 15) * SB + c);
            cs[x][0] = cs[x][1] = 0.f;
#pragma unroll
            for (int hr = 0; hr < 2; ++hr) {
              const float2 bj = *reinterpret_cast<const float2*>(beta + (16 * wr + g + 8 * hr) * SB + c);
              const float f0 = ex2(be.x - bj.x), f1 = ex2(be.y - bj.y);
              const float o0 = t[x][2 * hr] * k3.x * f0, o1 = t[x][2 * hr + 1] * k3.y * f1;
              float* ac = acc[2 * np + x];
              ac[2 * hr] = ac[2 * hr] * f0 + o0;
              ac[2 * hr + 1] = ac[2 * hr + 1] * f1 + o1;
              const float2 kf = unpack_bf16(kx[hr][x]);
              cs[x][0] += kf.x * o0;
              cs[x][1] += kf.y * o1;
            }
          }
#pragma unroll
          for (int x = 0; x < 2; ++x)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
              float p = cs[x][e];
              p += __shfl_xor_sync(0xffffffffu, p, 4);
              p += __shfl_xor_sync(0xffffffffu, p, 8);
              p += __shfl_xor_sync(0xffffffffu, p, 16);
              if (g == 0) osum[wr * DK + cq0 + 16 * np + 8 * x + 2 * t4 + e] = p;
            }
        }
        // exact diagonal terms of unsafe channels; store
#pragma unroll 1
        for (int wd = 0; wd < DK / 32; ++wd) {
          u32 m = umask[wr * (DK / 32) + wd];
          while (m) {
            const int c = 32 * wd + __ffs(m) - 1;
            m &= m - 1;
            if (c < cq0 || c >= cq0 + DK / 2 || (((c - cq0) & 7) >> 1) != t4) continue;
            const int nt = (c - cq0) >> 3, e = c & 1;
#pragma unroll
            for (int hr = 0; hr < 2; ++hr) {
              const int j = g + 8 * hr;
              const int rj = 16 * wr + j;
              const float bj = beta[rj * SB + c];
              float sum = 0.f;
              for (int i = j; i < 16; ++i) {
                const int ri = 16 * wr + i;
                if (ri >= L) break;
                sum += (p_at(sP, ri, rj) + p_at(sPlo, ri, rj)) * __bfloat162float(qh[(long long)(t0 + ri) * rsk + c]) *
                       ex2(beta[ri * SB + c] - bj);
              }
#pragma unroll
              for (int x = 0; x < NQT; ++x) {
                if (nt != x) continue;
                if (e) acc[x][2 * hr + 1] += sum;
                else acc[x][2 * hr] += sum;
              }
            }
          }
        }
        float* dkh = dkPart + (long long)vt * ntok * rsk + (long long)h * K;
#pragma unroll
        for (int nt = 0; nt < NQT; ++nt) {
          const int c = cq0 + 8 * nt + 2 * t4;
          if (c >= K) continue;
#pragma unroll
          for (int hr = 0; hr < 2; ++hr) {
            const int r = 16 * wr + g + 8 * hr;
            if (r < L) *reinterpret_cast<float2*>(dkh + (long long)(t0 + r) * rsk + c) = make_float2(acc[nt][2 * hr], acc[nt][2 * hr + 1]);
          }
        }
      }
      __syncthreads();
      // 5b. W = 2^b_last sum_e S_in G_end + sum_j k_j dkout_j, per channel
      if (tid < K) {
        wPart[(((long long)vt * nslots + slot_of(tBeg, seg, blk)) * H + h) * K + tid] =
            zsum[DK + tid] + osum[tid] + osum[DK + tid] + osum[2 * DK + tid] + osum[3 * DK + tid];
      }
      PROF(it, 7);
    }
    // the next block's entering state (its loads overlap the state update)
    if (full && blk > 0) slot_load<MT>(sin, slotH + slot_of(tBeg, seg, blk - 1) * H * kv, K, V, e0, sr0, sc0, lane);
    // 6. G += sum_I (scale Q1_I F_I)^T dO_I (A = Q1^T, rows = channels, k = tokens of sub-chunk I)
#pragma unroll
    for (int I = 0; I < CB / 16; ++I) {
      u32 a[MT][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt) {
        ldsm4t(a[mt], addrAT<DK>(aQ1, sr0 + 16 * mt, 16 * I, lane));
        const float f0 = scale * vec[VF + I * DK + sr0 + 16 * mt + g], f1 = scale * vec[VF + I * DK + sr0 + 16 * mt + g + 8];
        a[mt][0] = scale_bf16x2(a[mt][0], f0, f0);
        a[mt][2] = scale_bf16x2(a[mt][2], f0, f0);
        a[mt][1] = scale_bf16x2(a[mt][1], f1, f1);
        a[mt][3] = scale_bf16x2(a[mt][3], f1, f1);
      }
#pragma unroll
      for (int np = 0; np < 2; ++np) {
        u32 bb[4];
        ldsm4t(bb, addrBT<BV>(aD, sc0 + 16 * np, 16 * I, lane));
#pragma unroll
        for (int mt = 0; mt < MT; ++mt) {
          mma16816(gacc[mt][2 * np], a[mt], bb[0], bb[1]);
          mma16816(gacc[mt][2 * np + 1], a[mt], bb[2], bb[3]);
        }
      }
    }
    PROF(it, 8);
  }
  if (full) {
    if (dS0 && (flags & 1)) state_store<MT>(gacc, dS0 + ((long long)seq * H + h) * kv, K, V, e0, sr0, sc0, lane);
  } else {
    state_store<MT>(gacc, localOut + ((long long)seg * H + h) * kv, K, V, e0, sr0, sc0, lane);
    if (vt == 0 && tid < K) segDecay[((long long)seg * H + h) * K + tid] = vec[VSEG + tid];
  }
}
