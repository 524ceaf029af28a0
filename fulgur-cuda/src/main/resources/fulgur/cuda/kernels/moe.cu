// Mixture-of-experts on the device, with no host reads: routing (top-k over router logits, softmax or sigmoid
// gates, optional renormalisation over the k picked), per-expert counts and offsets by a device scan, the
// permutation of token rows into expert-contiguous order (stable: token order within each expert), the gated
// combine and the backward of all of them, and grouped GEMMs over experts whose row ranges are read from the
// device-side offsets (tensor cores, mma.sync m16n8k16 bf16 -> f32).
//
//   moe_route       one CTA per RT_TOK tokens: top-k, gates, each pair's rank among the CTA's pairs of its
//                   expert, the CTA's per-expert counts and summed softmax probabilities (for the aux loss)
//   moe_scan        one CTA: per-expert counts, offsets [E+1], per-CTA bases, the load-balancing loss
//   moe_dispatch    each (token, slot) pair's row in expert order, and each row's token
//   moe_gather_rows the token rows in expert order
//   moe_gemm_nt/nn  C[m,:] (+)= A[m,:] W_e^T / A[m,:] W_e for the rows m of expert e
//   moe_gemm_dw     dW_e (+)= A_e^T B_e over the rows of expert e
//   moe_combine     out[t] = sum_j gate[t,j] Y[pos[t,j]]; moe_combine_bwd, moe_unpermute_bwd, moe_route_bwd
//   moe_silu_mul    silu(a) * b and its backward (the experts' gated FFN)
#include <cuda_bf16.h>
#include "mma_common.cuh"

#define RT_TOK 128  // tokens per routing CTA
#define RT_NT 256
#define RT_WARPS (RT_NT / 32)
#define MAXE 256  // experts
#define EPL (MAXE / 32)
#define MAXK 8  // experts per token

#define NEG_INF (-__int_as_float(0x7f800000))

static __device__ __forceinline__ float load_logit(const void* p, long long i, int isBf16) {
  float x = isBf16 ? __bfloat162float(reinterpret_cast<const bf16*>(p)[i]) : reinterpret_cast<const float*>(p)[i];
  return isnan(x) ? NEG_INF : x;
}

static __device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, m));
  return x;
}
static __device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int m = 16; m > 0; m >>= 1) x += __shfl_xor_sync(0xffffffffu, x, m);
  return x;
}

// The logits of token t in lanes (expert i * 32 + lane in x[i]) and their full softmax in p.
static __device__ __forceinline__ void token_softmax(const void* logits, int isBf16, long long t, int E, int lane,
                                                     float* x, float* p) {
  float mx = NEG_INF;
#pragma unroll
  for (int i = 0; i < EPL; ++i) {
    const int e = i * 32 + lane;
    x[i] = e < E ? load_logit(logits, t * E + e, isBf16) : NEG_INF;
    mx = fmaxf(mx, x[i]);
  }
  mx = warp_max(mx);
  const float mref = mx == NEG_INF ? 0.f : mx;
  float s = 0.f;
#pragma unroll
  for (int i = 0; i < EPL; ++i) {
    p[i] = (i * 32 + lane < E) ? __expf(x[i] - mref) : 0.f;
    s += p[i];
  }
  const float inv = 1.f / warp_sum(s);
#pragma unroll
  for (int i = 0; i < EPL; ++i) p[i] *= inv;
}

// value of register-array element v[e / 32] held by lane e % 32, broadcast to the warp
static __device__ __forceinline__ float pick(const float* v, int e) {
  float r = 0.f;
#pragma unroll
  for (int i = 0; i < EPL; ++i)
    if (i == (e >> 5)) r = v[i];
  return __shfl_sync(0xffffffffu, r, e & 31);
}

// The k experts of largest logit (ties: lower index first, as an argmax that returns the first maximum),
// uniform across the warp.
static __device__ __forceinline__ void token_topk(const float* x, int E, int K, int lane, int* sel) {
  bool taken[EPL];
#pragma unroll
  for (int i = 0; i < EPL; ++i) taken[i] = false;
#pragma unroll
  for (int j = 0; j < MAXK; ++j) {
    if (j >= K) break;
    float best = NEG_INF;
    int bi = 0x7fffffff;
#pragma unroll
    for (int i = 0; i < EPL; ++i) {
      const int e = i * 32 + lane;
      if (e < E && !taken[i] && (x[i] > best || (x[i] == best && e < bi))) {
        best = x[i];
        bi = e;
      }
    }
#pragma unroll
    for (int m = 16; m > 0; m >>= 1) {
      const float ob = __shfl_xor_sync(0xffffffffu, best, m);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, m);
      if (ob > best || (ob == best && oi < bi)) {
        best = ob;
        bi = oi;
      }
    }
    sel[j] = bi;
#pragma unroll
    for (int i = 0; i < EPL; ++i)
      if (i == (bi >> 5) && lane == (bi & 31)) taken[i] = true;
  }
}

// The gates of the picked experts: softmax probabilities or sigmoids, renormalised over the k when asked.
// Returns the sum of the raw values (1 / the renormalisation factor).
static __device__ __forceinline__ float token_gates(const float* x, const float* p, const int* sel, int K, int sigmoid,
                                                    int normalize, float* gate) {
  float s = 0.f;
#pragma unroll
  for (int j = 0; j < MAXK; ++j) {
    if (j >= K) break;
    const float raw = sigmoid ? 1.f / (1.f + __expf(-pick(x, sel[j]))) : pick(p, sel[j]);
    gate[j] = raw;
    s += raw;
  }
  if (normalize) {
    const float inv = 1.f / s;
#pragma unroll
    for (int j = 0; j < MAXK; ++j)
      if (j < K) gate[j] *= inv;
  }
  return s;
}

// topIdx, rank: i32 [N, K]; gates: f32 [N, K]; ctaCounts: i32 [numCta, E]; probPartial: f32 [numCta, E]
extern "C" __global__ void __launch_bounds__(RT_NT)
moe_route(const void* __restrict__ logits, int logitsBf16, int N, int E, int K, int sigmoid, int normalize,
          int* __restrict__ topIdx, float* __restrict__ gates, int* __restrict__ rank, int* __restrict__ ctaCounts,
          float* __restrict__ probPartial) {
  __shared__ int sIdx[RT_TOK * MAXK];
  __shared__ int sWarpCnt[RT_WARPS][MAXE];
  __shared__ int sBase[MAXE];
  __shared__ float sProb[RT_WARPS][MAXE];
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  const long long tok0 = (long long)blockIdx.x * RT_TOK;
  for (int i = tid; i < RT_WARPS * MAXE; i += RT_NT) (&sWarpCnt[0][0])[i] = 0;
  for (int i = tid; i < MAXE; i += RT_NT) sBase[i] = 0;

  float pacc[EPL];
#pragma unroll
  for (int i = 0; i < EPL; ++i) pacc[i] = 0.f;
  for (int lt = w; lt < RT_TOK; lt += RT_WARPS) {
    const long long t = tok0 + lt;
    if (t >= N) {
      for (int j = lane; j < K; j += 32) sIdx[lt * K + j] = -1;
      continue;
    }
    float x[EPL], p[EPL], gate[MAXK];
    int sel[MAXK];
    token_softmax(logits, logitsBf16, t, E, lane, x, p);
#pragma unroll
    for (int i = 0; i < EPL; ++i) pacc[i] += p[i];
    token_topk(x, E, K, lane, sel);
    token_gates(x, p, sel, K, sigmoid, normalize, gate);
    if (lane == 0) {
#pragma unroll
      for (int j = 0; j < MAXK; ++j) {
        if (j >= K) break;
        topIdx[t * K + j] = sel[j];
        gates[t * K + j] = gate[j];
        sIdx[lt * K + j] = sel[j];
      }
    }
  }
#pragma unroll
  for (int i = 0; i < EPL; ++i)
    if (i * 32 + lane < E) sProb[w][i * 32 + lane] = pacc[i];
  __syncthreads();
  for (int e = tid; e < E; e += RT_NT) {
    float s = 0.f;
    for (int ww = 0; ww < RT_WARPS; ++ww) s += sProb[ww][e];
    probPartial[(long long)blockIdx.x * E + e] = s;
  }

  // ranks: pairs in (token, slot) order, chunks of RT_NT pairs
  const int pairs = RT_TOK * K;
  const unsigned lt_mask = (1u << lane) - 1u;
  for (int c0 = 0; c0 < pairs; c0 += RT_NT) {
    const int pi = c0 + tid;
    const int e = pi < pairs ? sIdx[pi] : -1;
    const unsigned mask = __match_any_sync(0xffffffffu, e);
    const int rw = __popc(mask & lt_mask);
    if (e >= 0 && lane == __ffs(mask) - 1) sWarpCnt[w][e] = __popc(mask);
    __syncthreads();
    if (e >= 0) {
      int r = sBase[e] + rw;
      for (int ww = 0; ww < w; ++ww) r += sWarpCnt[ww][e];
      rank[tok0 * K + pi] = r;
    }
    __syncthreads();
    for (int ee = tid; ee < E; ee += RT_NT) {
      int tot = 0;
      for (int ww = 0; ww < RT_WARPS; ++ww) {
        tot += sWarpCnt[ww][ee];
        sWarpCnt[ww][ee] = 0;
      }
      sBase[ee] += tot;
    }
    __syncthreads();
  }
  for (int e = tid; e < E; e += RT_NT) ctaCounts[(long long)blockIdx.x * E + e] = sBase[e];
}

// One CTA of 1024 threads. ctaCounts [numCta, E] becomes each CTA's base within its expert (exclusive scan over
// CTAs); counts [E], offsets [E+1]; aux (may be null) = auxScale * sum_e counts[e] * sum_c probPartial[c, e].
extern "C" __global__ void __launch_bounds__(1024)
moe_scan(int* __restrict__ ctaCounts, int numCta, int E, int* __restrict__ counts, int* __restrict__ offsets,
         const float* __restrict__ probPartial, float* __restrict__ aux, float auxScale) {
  __shared__ int sCnt[MAXE];
  __shared__ float sP[MAXE];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  for (int e = w; e < E; e += 32) {
    int running = 0;
    float ps = 0.f;
    for (int c0 = 0; c0 < numCta; c0 += 32) {
      const int c = c0 + lane;
      const int v = c < numCta ? ctaCounts[(long long)c * E + e] : 0;
      if (c < numCta) ps += probPartial[(long long)c * E + e];
      int incl = v;
#pragma unroll
      for (int m = 1; m < 32; m <<= 1) {
        const int o = __shfl_up_sync(0xffffffffu, incl, m);
        if (lane >= m) incl += o;
      }
      if (c < numCta) ctaCounts[(long long)c * E + e] = running + incl - v;
      running += __shfl_sync(0xffffffffu, incl, 31);
    }
    ps = warp_sum(ps);
    if (lane == 0) {
      sCnt[e] = running;
      sP[e] = ps;
      counts[e] = running;
    }
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    int acc = 0;
    double a = 0.0;
    for (int e = 0; e < E; ++e) {
      offsets[e] = acc;
      acc += sCnt[e];
      a += (double)sCnt[e] * sP[e];
    }
    offsets[E] = acc;
    if (aux) *aux = (float)(auxScale * a);
  }
}

// pos [N, K]: the row of pair (t, j) in expert order; tokenOf [N*K]: the token of each row. One thread per pair.
extern "C" __global__ void moe_dispatch(const int* __restrict__ topIdx, const int* __restrict__ rank, const int* __restrict__ ctaBase,
                                        const int* __restrict__ offsets, int* __restrict__ pos, int* __restrict__ tokenOf,
                                        int N, int K, int E) {
  const long long pairs = (long long)N * K;
  for (long long p = blockIdx.x * (long long)blockDim.x + threadIdx.x; p < pairs; p += (long long)gridDim.x * blockDim.x) {
    const long long t = p / K;
    const int e = topIdx[p];
    const int dst = offsets[e] + ctaBase[(t / RT_TOK) * E + e] + rank[p];
    pos[p] = dst;
    tokenOf[dst] = (int)t;
  }
}

// out [rows, D] = x[tokenOf[row]]: the token rows in expert order. One warp per row; D % 8 == 0.
extern "C" __global__ void moe_gather_rows(const bf16* __restrict__ x, const int* __restrict__ tokenOf, bf16* __restrict__ out,
                                           int rows, int D) {
  const int lane = threadIdx.x & 31;
  for (long long r = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5; r < rows; r += ((long long)gridDim.x * blockDim.x) >> 5) {
    const uint4* src = reinterpret_cast<const uint4*>(x + (long long)tokenOf[r] * D);
    uint4* d = reinterpret_cast<uint4*>(out + r * D);
    for (int c = lane; c < D / 8; c += 32) d[c] = src[c];
  }
}

// out [N, D] = sum_j gates[t, j] * Y[pos[t, j]]. One warp per token.
extern "C" __global__ void moe_combine(const bf16* __restrict__ y, const float* __restrict__ gates, const int* __restrict__ pos,
                                       bf16* __restrict__ out, int N, int K, int D) {
  const int lane = threadIdx.x & 31;
  for (long long t = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5; t < N; t += ((long long)gridDim.x * blockDim.x) >> 5) {
    for (int c = lane; c < D / 8; c += 32) {
      float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
      for (int j = 0; j < K; ++j) {
        const float gj = gates[t * K + j];
        const uint4 v = reinterpret_cast<const uint4*>(y + (long long)pos[t * K + j] * D)[c];
        const u32 vv[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float2 f = unpack_bf16(vv[e]);
          acc[2 * e] = fmaf(gj, f.x, acc[2 * e]);
          acc[2 * e + 1] = fmaf(gj, f.y, acc[2 * e + 1]);
        }
      }
      reinterpret_cast<uint4*>(out + t * D)[c] =
          make_uint4(pack_bf16(acc[0], acc[1]), pack_bf16(acc[2], acc[3]), pack_bf16(acc[4], acc[5]), pack_bf16(acc[6], acc[7]));
    }
  }
}

// dY[pos[t,j]] = gates[t,j] * dOut[t]; dGates[t,j] = dOut[t] . Y[pos[t,j]]. One warp per token.
extern "C" __global__ void moe_combine_bwd(const bf16* __restrict__ dout, const bf16* __restrict__ y, const float* __restrict__ gates,
                                           const int* __restrict__ pos, bf16* __restrict__ dy, float* __restrict__ dGates,
                                           int N, int K, int D) {
  const int lane = threadIdx.x & 31;
  for (long long t = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5; t < N; t += ((long long)gridDim.x * blockDim.x) >> 5) {
    const uint4* d = reinterpret_cast<const uint4*>(dout + t * D);
    for (int j = 0; j < K; ++j) {
      const float gj = gates[t * K + j];
      const long long row = pos[t * K + j];
      const uint4* yr = reinterpret_cast<const uint4*>(y + row * D);
      uint4* dyr = reinterpret_cast<uint4*>(dy + row * D);
      float dot = 0.f;
      for (int c = lane; c < D / 8; c += 32) {
        const uint4 a = d[c], b = yr[c];
        const u32 av[4] = {a.x, a.y, a.z, a.w}, bv[4] = {b.x, b.y, b.z, b.w};
        u32 o[4];
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float2 fa = unpack_bf16(av[e]), fb = unpack_bf16(bv[e]);
          dot = fmaf(fa.x, fb.x, fmaf(fa.y, fb.y, dot));
          o[e] = pack_bf16(gj * fa.x, gj * fa.y);
        }
        dyr[c] = make_uint4(o[0], o[1], o[2], o[3]);
      }
      dot = warp_sum(dot);
      if (lane == 0) dGates[t * K + j] = dot;
    }
  }
}

// dX [N, D] = sum_j dXPerm[pos[t, j]]. One warp per token.
extern "C" __global__ void moe_unpermute_bwd(const bf16* __restrict__ dxPerm, const int* __restrict__ pos, bf16* __restrict__ dx,
                                             int N, int K, int D) {
  const int lane = threadIdx.x & 31;
  for (long long t = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5; t < N; t += ((long long)gridDim.x * blockDim.x) >> 5) {
    for (int c = lane; c < D / 8; c += 32) {
      float acc[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
      for (int j = 0; j < K; ++j) {
        const uint4 v = reinterpret_cast<const uint4*>(dxPerm + (long long)pos[t * K + j] * D)[c];
        const u32 vv[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const float2 f = unpack_bf16(vv[e]);
          acc[2 * e] += f.x;
          acc[2 * e + 1] += f.y;
        }
      }
      reinterpret_cast<uint4*>(dx + t * D)[c] =
          make_uint4(pack_bf16(acc[0], acc[1]), pack_bf16(acc[2], acc[3]), pack_bf16(acc[4], acc[5]), pack_bf16(acc[6], acc[7]));
    }
  }
}

// dLogits [N, E] (f32, or bf16 when logitsBf16) from dGates [N, K] and, when dAux is not null, the load-balancing
// loss's gradient *dAux: aux = auxScale * sum_e counts[e] * sum_t softmax(logits_t)[e]. One warp per token.
extern "C" __global__ void moe_route_bwd(const void* __restrict__ logits, int logitsBf16, const int* __restrict__ topIdx,
                                         const float* __restrict__ dGates, const int* __restrict__ counts,
                                         const float* __restrict__ dAux, void* __restrict__ dLogits, int N, int E, int K,
                                         int sigmoid, int normalize, float auxScale) {
  const int lane = threadIdx.x & 31;
  const float ga = dAux ? *dAux * auxScale : 0.f;
  for (long long t = (blockIdx.x * (long long)blockDim.x + threadIdx.x) >> 5; t < N; t += ((long long)gridDim.x * blockDim.x) >> 5) {
    float x[EPL], p[EPL], gate[MAXK], dg[MAXK];
    int sel[MAXK];
    token_softmax(logits, logitsBf16, t, E, lane, x, p);
#pragma unroll
    for (int j = 0; j < MAXK; ++j) sel[j] = j < K ? topIdx[t * K + j] : -1;
    const float s = token_gates(x, p, sel, K, sigmoid, normalize, gate);
    // d(raw gate values)
    float c = 0.f;
#pragma unroll
    for (int j = 0; j < MAXK; ++j) {
      dg[j] = j < K ? dGates[t * K + j] : 0.f;
      if (j < K) c += gate[j] * dg[j];
    }
    if (normalize) {
      const float inv = 1.f / s;
#pragma unroll
      for (int j = 0; j < MAXK; ++j) dg[j] = (dg[j] - c) * inv;
    }
    float u[EPL], dl[EPL];
    float pu = 0.f;
#pragma unroll
    for (int i = 0; i < EPL; ++i) {
      const int e = i * 32 + lane;
      float gsel = 0.f;
#pragma unroll
      for (int j = 0; j < MAXK; ++j)
        if (sel[j] == e) gsel += dg[j];
      dl[i] = 0.f;
      u[i] = (e < E && dAux) ? ga * (float)counts[e] : 0.f;
      if (sigmoid) {
        const float sg = 1.f / (1.f + __expf(-x[i]));
        dl[i] = gsel * sg * (1.f - sg);
      } else {
        u[i] += gsel;
      }
      pu += p[i] * u[i];
    }
    pu = warp_sum(pu);
#pragma unroll
    for (int i = 0; i < EPL; ++i) {
      const int e = i * 32 + lane;
      if (e < E) {
        const float v = dl[i] + p[i] * (u[i] - pu);
        if (logitsBf16) reinterpret_cast<bf16*>(dLogits)[t * E + e] = __float2bfloat16(v);
        else reinterpret_cast<float*>(dLogits)[t * E + e] = v;
      }
    }
  }
}

// out = silu(a) * b, n % 8 == 0
extern "C" __global__ void moe_silu_mul(const bf16* __restrict__ a, const bf16* __restrict__ b, bf16* __restrict__ out, long long n) {
  for (long long i = (blockIdx.x * (long long)blockDim.x + threadIdx.x) * 8; i < n; i += (long long)gridDim.x * blockDim.x * 8) {
    const uint4 va = *reinterpret_cast<const uint4*>(a + i), vb = *reinterpret_cast<const uint4*>(b + i);
    const u32 aa[4] = {va.x, va.y, va.z, va.w}, bb[4] = {vb.x, vb.y, vb.z, vb.w};
    u32 o[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float2 fa = unpack_bf16(aa[e]), fb = unpack_bf16(bb[e]);
      o[e] = pack_bf16(fa.x / (1.f + __expf(-fa.x)) * fb.x, fa.y / (1.f + __expf(-fa.y)) * fb.y);
    }
    *reinterpret_cast<uint4*>(out + i) = make_uint4(o[0], o[1], o[2], o[3]);
  }
}

// da = dout * b * silu'(a), db = dout * silu(a)
extern "C" __global__ void moe_silu_mul_bwd(const bf16* __restrict__ a, const bf16* __restrict__ b, const bf16* __restrict__ dout,
                                            bf16* __restrict__ da, bf16* __restrict__ db, long long n) {
  for (long long i = (blockIdx.x * (long long)blockDim.x + threadIdx.x) * 8; i < n; i += (long long)gridDim.x * blockDim.x * 8) {
    const uint4 va = *reinterpret_cast<const uint4*>(a + i), vb = *reinterpret_cast<const uint4*>(b + i),
                vd = *reinterpret_cast<const uint4*>(dout + i);
    const u32 aa[4] = {va.x, va.y, va.z, va.w}, bb[4] = {vb.x, vb.y, vb.z, vb.w}, dd[4] = {vd.x, vd.y, vd.z, vd.w};
    u32 oa[4], ob[4];
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const float2 fa = unpack_bf16(aa[e]), fb = unpack_bf16(bb[e]), fd = unpack_bf16(dd[e]);
      const float s0 = 1.f / (1.f + __expf(-fa.x)), s1 = 1.f / (1.f + __expf(-fa.y));
      oa[e] = pack_bf16(fd.x * fb.x * s0 * (1.f + fa.x * (1.f - s0)), fd.y * fb.y * s1 * (1.f + fa.y * (1.f - s1)));
      ob[e] = pack_bf16(fd.x * fa.x * s0, fd.y * fa.y * s1);
    }
    *reinterpret_cast<uint4*>(da + i) = make_uint4(oa[0], oa[1], oa[2], oa[3]);
    *reinterpret_cast<uint4*>(db + i) = make_uint4(ob[0], ob[1], ob[2], ob[3]);
  }
}

// ------------------------------------------------------------------------------------------------
// grouped GEMM: 128 x 128 output tiles, 4 warps of 64 x 64, k in steps of 32 through a 4-stage cp.async ring
#define GM 128
#define GN 128
#define GK 32
#define GSTAGES 4
#define GNT 128
#define GTILE (GM * GK * 2)  // bytes of one 128 x 32 (or 32 x 128) bf16 tile

extern __shared__ __align__(128) char gemm_smem[];  // [GSTAGES] A tiles, then [GSTAGES] B tiles

// Copies a ROWS x (CHUNKS * 8) bf16 tile (rows >= rEnd and chunks >= cEnd zero-filled) into a swizzled tile.
template <int COLS, int ROWS, int CHUNKS>
static __device__ __forceinline__ void load_tile2(u32 sbase, const bf16* g, long long rowStride, int rEnd, int cEnd, int tid) {
  constexpr int TOTAL = ROWS * CHUNKS;
  static_assert(TOTAL % GNT == 0, "tile chunks must divide among the threads");
#pragma unroll
  for (int it = 0; it < TOTAL / GNT; ++it) {
    const int idx = it * GNT + tid;
    const int r = idx / CHUNKS, c = idx % CHUNKS;
    const bool ok = r < rEnd && c < cEnd;
    const bf16* src = ok ? g + (long long)r * rowStride + c * 8 : g;
    cp_async16(sbase + swz<COLS>(r, c), src, ok ? 16 : 0);
  }
}

// The expert and m-tile of this CTA's x index: tiles are numbered expert by expert, ceil(count / GM) each. The
// threads scan the experts' tile counts together, GNT experts at a time.
static __device__ __forceinline__ bool find_tile(const int* offsets, int E, int tile, int* e, int* mt) {
  __shared__ int sWarp[GNT / 32];
  __shared__ int sE, sT;
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5;
  if (tid == 0) sE = -1;
  __syncthreads();
  int base = 0;  // tiles of the experts before this chunk
  for (int c0 = 0; c0 < E; c0 += GNT) {
    const int i = c0 + tid;
    const int tl = i < E ? (offsets[i + 1] - offsets[i] + GM - 1) / GM : 0;
    int incl = tl;
#pragma unroll
    for (int m = 1; m < 32; m <<= 1) {
      const int o = __shfl_up_sync(0xffffffffu, incl, m);
      if (lane >= m) incl += o;
    }
    if (lane == 31) sWarp[w] = incl;
    __syncthreads();
    int before = 0, total = 0;
#pragma unroll
    for (int ww = 0; ww < GNT / 32; ++ww) {
      if (ww < w) before += sWarp[ww];
      total += sWarp[ww];
    }
    const int first = base + before + incl - tl;
    if (tl > 0 && tile >= first && tile < first + tl) {
      sE = i;
      sT = tile - first;
    }
    base += total;
    __syncthreads();
    if (sE >= 0) break;
  }
  *e = sE;
  *mt = sT;
  return sE >= 0;
}

// C[m, n] (+)= sum_k A[m, k] B_e(k, n) for the rows m of expert e; B_e(k, n) = W[e, n, k] (KN = 0) or W[e, k, n]
// (KN = 1). A [M, K], C [M, N] bf16 row-major; K % 8 == 0, N % 8 == 0. Grid: x >= the number of m-tiles
// (floor(M / GM) + E is always enough), y = ceil(N / GN).
template <int KN>
static __device__ __forceinline__ void gemm_body(const bf16* __restrict__ A, const bf16* __restrict__ W, bf16* __restrict__ C,
                                                 const int* __restrict__ offsets, int E, int N, int K, int accumulate) {
  int e, mtile;
  if (!find_tile(offsets, E, blockIdx.x, &e, &mtile)) return;
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const int wm = w & 1, wn = w >> 1;
  const int r0 = offsets[e] + mtile * GM, rEnd = offsets[e + 1] - r0;
  const int n0 = blockIdx.y * GN;
  const bf16* Ab = A + (long long)r0 * K;
  const bf16* Wb = W + (long long)e * N * K;
  const u32 sA = smem_u32(gemm_smem), sB = sA + GSTAGES * GTILE;
  const int kTiles = (K + GK - 1) / GK;

  auto load = [&](int kt, int stg) {
    const int k0 = kt * GK;
    load_tile2<GK, GM, GK / 8>(sA + stg * GTILE, Ab + k0, K, rEnd, (K - k0) / 8, tid);
    if (KN) load_tile2<GN, GK, GN / 8>(sB + stg * GTILE, Wb + (long long)k0 * N + n0, N, K - k0, (N - n0) / 8, tid);
    else load_tile2<GK, GN, GK / 8>(sB + stg * GTILE, Wb + (long long)n0 * K + k0, K, N - n0, (K - k0) / 8, tid);
  };
#pragma unroll
  for (int s = 0; s < GSTAGES - 1; ++s) {
    if (s < kTiles) load(s, s);
    cp_async_commit();
  }
  float acc[4][8][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][j][c] = 0.f;

  for (int kt = 0; kt < kTiles; ++kt) {
    cp_async_wait<GSTAGES - 2>();
    __syncthreads();
    if (kt + GSTAGES - 1 < kTiles) load(kt + GSTAGES - 1, (kt + GSTAGES - 1) % GSTAGES);
    cp_async_commit();
    const int stg = kt % GSTAGES;
    const u32 aA = sA + stg * GTILE, aB = sB + stg * GTILE;
#pragma unroll
    for (int kk = 0; kk < GK / 16; ++kk) {
      u32 a[4][4], b[4][4];
#pragma unroll
      for (int mt = 0; mt < 4; ++mt) ldsm4(a[mt], addrA<GK>(aA, 64 * wm + 16 * mt, 16 * kk, lane));
#pragma unroll
      for (int np = 0; np < 4; ++np) {
        if (KN) ldsm4t(b[np], addrBT<GN>(aB, 64 * wn + 16 * np, 16 * kk, lane));
        else ldsm4(b[np], addrB<GK>(aB, 64 * wn + 16 * np, 16 * kk, lane));
      }
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
#pragma unroll
        for (int np = 0; np < 4; ++np) {
          mma16816(acc[mt][2 * np], a[mt], b[np][0], b[np][1]);
          mma16816(acc[mt][2 * np + 1], a[mt], b[np][2], b[np][3]);
        }
    }
  }
  cp_async_wait<0>();

#pragma unroll
  for (int mt = 0; mt < 4; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int r = 64 * wm + 16 * mt + g + 8 * h;
      if (r >= rEnd) continue;
      bf16* crow = C + (long long)(r0 + r) * N;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        const int col = n0 + 64 * wn + 8 * nt + 2 * t4;
        if (col < N) {
          float x = acc[mt][nt][2 * h], y = acc[mt][nt][2 * h + 1];
          u32* dst = reinterpret_cast<u32*>(crow + col);
          if (accumulate) {
            const float2 old = unpack_bf16(*dst);
            x += old.x;
            y += old.y;
          }
          *dst = pack_bf16(x, y);
        }
      }
    }
}

extern "C" __global__ void __launch_bounds__(GNT, 2)
moe_gemm_nt(const bf16* __restrict__ A, const bf16* __restrict__ W, bf16* __restrict__ C, const int* __restrict__ offsets,
            int E, int N, int K, int accumulate) {
  gemm_body<0>(A, W, C, offsets, E, N, K, accumulate);
}

extern "C" __global__ void __launch_bounds__(GNT, 2)
moe_gemm_nn(const bf16* __restrict__ A, const bf16* __restrict__ W, bf16* __restrict__ C, const int* __restrict__ offsets,
            int E, int N, int K, int accumulate) {
  gemm_body<1>(A, W, C, offsets, E, N, K, accumulate);
}

// dW[e, p, q] (+)= sum_{m of expert e} A[m, p] B[m, q]: A [M, P], B [M, Q] bf16; dW f32 (outF32) or bf16 [E, P, Q].
// P % 8 == 0, Q % 8 == 0. Grid (ceil(Q / GN), ceil(P / GM), E). An expert without rows gets zeros (or keeps its
// accumulated value).
extern "C" __global__ void __launch_bounds__(GNT, 2)
moe_gemm_dw(const bf16* __restrict__ A, const bf16* __restrict__ B, void* __restrict__ dW, const int* __restrict__ offsets,
            int P, int Q, int outF32, int accumulate) {
  const int tid = threadIdx.x, lane = tid & 31, w = tid >> 5, g = lane >> 2, t4 = lane & 3;
  const int wm = w & 1, wn = w >> 1;
  const int e = blockIdx.z, q0 = blockIdx.x * GN, p0 = blockIdx.y * GM;
  const int mBeg = offsets[e], mEnd = offsets[e + 1];
  const u32 sA = smem_u32(gemm_smem), sB = sA + GSTAGES * GTILE;
  const int kTiles = (mEnd - mBeg + GK - 1) / GK;

  auto load = [&](int kt, int stg) {
    const int m0 = mBeg + kt * GK;
    load_tile2<GM, GK, GM / 8>(sA + stg * GTILE, A + (long long)m0 * P + p0, P, mEnd - m0, (P - p0) / 8, tid);
    load_tile2<GN, GK, GN / 8>(sB + stg * GTILE, B + (long long)m0 * Q + q0, Q, mEnd - m0, (Q - q0) / 8, tid);
  };
#pragma unroll
  for (int s = 0; s < GSTAGES - 1; ++s) {
    if (s < kTiles) load(s, s);
    cp_async_commit();
  }
  float acc[4][8][4];
#pragma unroll
  for (int i = 0; i < 4; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int c = 0; c < 4; ++c) acc[i][j][c] = 0.f;

  for (int kt = 0; kt < kTiles; ++kt) {
    cp_async_wait<GSTAGES - 2>();
    __syncthreads();
    if (kt + GSTAGES - 1 < kTiles) load(kt + GSTAGES - 1, (kt + GSTAGES - 1) % GSTAGES);
    cp_async_commit();
    const int stg = kt % GSTAGES;
    const u32 aA = sA + stg * GTILE, aB = sB + stg * GTILE;
#pragma unroll
    for (int kk = 0; kk < GK / 16; ++kk) {
      u32 a[4][4], b[4][4];
#pragma unroll
      for (int mt = 0; mt < 4; ++mt) ldsm4t(a[mt], addrAT<GM>(aA, 64 * wm + 16 * mt, 16 * kk, lane));
#pragma unroll
      for (int np = 0; np < 4; ++np) ldsm4t(b[np], addrBT<GN>(aB, 64 * wn + 16 * np, 16 * kk, lane));
#pragma unroll
      for (int mt = 0; mt < 4; ++mt)
#pragma unroll
        for (int np = 0; np < 4; ++np) {
          mma16816(acc[mt][2 * np], a[mt], b[np][0], b[np][1]);
          mma16816(acc[mt][2 * np + 1], a[mt], b[np][2], b[np][3]);
        }
    }
  }
  cp_async_wait<0>();

#pragma unroll
  for (int mt = 0; mt < 4; ++mt)
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int p = p0 + 64 * wm + 16 * mt + g + 8 * h;
      if (p >= P) continue;
      const long long rowBase = ((long long)e * P + p) * Q;
#pragma unroll
      for (int nt = 0; nt < 8; ++nt) {
        const int q = q0 + 64 * wn + 8 * nt + 2 * t4;
        if (q < Q) {
          float x = acc[mt][nt][2 * h], y = acc[mt][nt][2 * h + 1];
          if (outF32) {
            float2* dst = reinterpret_cast<float2*>(reinterpret_cast<float*>(dW) + rowBase + q);
            if (accumulate) {
              const float2 old = *dst;
              x += old.x;
              y += old.y;
            }
            *dst = make_float2(x, y);
          } else {
            u32* dst = reinterpret_cast<u32*>(reinterpret_cast<bf16*>(dW) + rowBase + q);
            if (accumulate) {
              const float2 old = unpack_bf16(*dst);
              x += old.x;
              y += old.y;
            }
            *dst = pack_bf16(x, y);
          }
        }
      }
    }
}
