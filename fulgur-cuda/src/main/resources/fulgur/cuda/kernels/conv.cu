// Short causal depthwise convolution (fla's ShortConvolution; MetaLA's short conv):
//   pre_t = bias + sum_{w < W} weight[c][w] x_{t-W+1+w},   y_t = act(pre_t)   (act: identity or SiLU)
// per channel c, within each sequence; the W-1 positions before a sequence's first token come from its tail
// (tail0 [N, W-1, D], the previous inputs when decoding) or are zero. The final tail [N, W-1, D] holds the
// last W-1 inputs (conv_tail). Layout: tokens packed [NTOK, D], f32 or bf16 (xF32); weight [D, W] and bias [D]
// in f32 or bf16 (wF32). One thread per channel walks a segment of tokens with a register window.
// segTab[4s..] = (first token, end token, sequence, flags); seqTab[4n..] = (first token, end token, ..).
#include <cuda_bf16.h>

#define WMAX 8
#define U 8   // tokens whose loads are issued together

static __device__ __forceinline__ float ldx(const void* p, int f32, long long i) {
  return f32 ? reinterpret_cast<const float*>(p)[i] : __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(p)[i]);
}
static __device__ __forceinline__ void stx(void* p, int f32, long long i, float v) {
  if (f32) reinterpret_cast<float*>(p)[i] = v;
  else reinterpret_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(v);
}

// input u of sequence n (token range [ts, te)), channel c: x, the tail before ts, or 0
static __device__ __forceinline__ float xin(const void* x, int xF32, const void* tail0, int u, int ts, int n, int c, int D, int W) {
  if (u >= ts) return ldx(x, xF32, (long long)u * D + c);
  if (!tail0 || u < ts - (W - 1)) return 0.f;
  return ldx(tail0, xF32, ((long long)n * (W - 1) + (W - 1) + (u - ts)) * D + c);
}

extern "C" __global__ void __launch_bounds__(128)
conv_fwd(const void* __restrict__ x, int xF32, const void* __restrict__ weight, const void* __restrict__ bias, int wF32,
         const void* __restrict__ tail0, void* __restrict__ y, int silu, const int* __restrict__ segTab, const int* __restrict__ seqTab,
         int D, int W) {
  const int c = blockIdx.x * 128 + threadIdx.x, s = blockIdx.y;
  if (c >= D) return;
  const int tBeg = segTab[4 * s], tEnd = segTab[4 * s + 1], n = segTab[4 * s + 2];
  const int ts = seqTab[4 * n];
  float wt[WMAX], win[WMAX];
#pragma unroll
  for (int j = 0; j < WMAX; ++j) {
    wt[j] = j < W ? ldx(weight, wF32, (long long)c * W + j) : 0.f;
    win[j] = (j < W - 1) ? xin(x, xF32, tail0, tBeg - (W - 1) + j, ts, n, c, D, W) : 0.f;
  }
  const float b = bias ? ldx(bias, wF32, c) : 0.f;
  for (int tb = tBeg; tb < tEnd; tb += U) {
    float xs[U];  // the next U inputs, loaded before any is used
#pragma unroll
    for (int u = 0; u < U; ++u) xs[u] = tb + u < tEnd ? ldx(x, xF32, (long long)(tb + u) * D + c) : 0.f;
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int t = tb + u;
      if (t >= tEnd) break;
#pragma unroll
      for (int j = 0; j < WMAX; ++j)
        if (j == W - 1) win[j] = xs[u];
      float pre = b;
#pragma unroll
      for (int j = 0; j < WMAX; ++j) if (j < W) pre += wt[j] * win[j];
      const float out = silu ? pre / (1.f + expf(-pre)) : pre;
      stx(y, xF32, (long long)t * D + c, out);
#pragma unroll
      for (int j = 0; j + 1 < WMAX; ++j) win[j] = win[j + 1];
    }
  }
}

// tailOut[n][j][c] = input te - (W-1) + j (may alias tail0: each thread reads its channel first)
extern "C" __global__ void __launch_bounds__(128)
conv_tail(const void* __restrict__ x, int xF32, const void* tail0, void* tailOut, const int* __restrict__ seqTab, int D, int W) {
  const int c = blockIdx.x * 128 + threadIdx.x, n = blockIdx.y;
  if (c >= D) return;
  const int ts = seqTab[4 * n], te = seqTab[4 * n + 1];
  float v[WMAX];
#pragma unroll
  for (int j = 0; j < WMAX; ++j) v[j] = j < W - 1 ? xin(x, xF32, tail0, te - (W - 1) + j, ts, n, c, D, W) : 0.f;
#pragma unroll
  for (int j = 0; j < WMAX; ++j)
    if (j < W - 1) stx(tailOut, xF32, ((long long)n * (W - 1) + j) * D + c, v[j]);
}

// Backward: dpre_t = dy_t act'(pre_t); dx_u = sum_w dpre_{u+W-1-w} weight[w] (+ dTail_T where u is in the final
// tail); dtail0 likewise for the positions before the sequence; dweight, dbias summed (f32 atomics into
// dwAcc [D, W], dbAcc [D]) over each CTA's tokens.
extern "C" __global__ void __launch_bounds__(128)
conv_bwd(const void* __restrict__ x, int xF32, const void* __restrict__ weight, const void* __restrict__ bias, int wF32,
         const void* __restrict__ tail0, const void* __restrict__ dy, const void* __restrict__ dTailT, int silu,
         void* __restrict__ dx, void* __restrict__ dTail0, float* __restrict__ dwAcc, float* __restrict__ dbAcc,
         const int* __restrict__ segTab, const int* __restrict__ seqTab, int D, int W) {
  const int c = blockIdx.x * 128 + threadIdx.x, s = blockIdx.y;
  if (c >= D) return;
  const int tBeg = segTab[4 * s], tEnd = segTab[4 * s + 1], n = segTab[4 * s + 2];
  const int ts = seqTab[4 * n], te = seqTab[4 * n + 1];
  float wt[WMAX], win[WMAX], dwin[WMAX], dw[WMAX];
#pragma unroll
  for (int j = 0; j < WMAX; ++j) {
    wt[j] = j < W ? ldx(weight, wF32, (long long)c * W + j) : 0.f;
    win[j] = (j < W - 1) ? xin(x, xF32, tail0, tBeg - (W - 1) + j, ts, n, c, D, W) : 0.f;
    dwin[j] = 0.f;
    dw[j] = 0.f;
  }
  float wrev[WMAX];  // wrev[j] = weight[W-1-j], compile-time register indices
#pragma unroll
  for (int j = 0; j < WMAX; ++j) {
    wrev[j] = 0.f;
#pragma unroll
    for (int i = 0; i < WMAX; ++i) if (i + j == W - 1) wrev[j] = wt[i];
  }
  const float b = bias ? ldx(bias, wF32, c) : 0.f;
  float db = 0.f;
  const int tailStart = te - (W - 1);  // first input of the final tail
  const int tStop = tEnd + W - 1;
  for (int tb = tBeg; tb < tStop; tb += U) {
    float xs[U], gs[U];  // the next U inputs and output gradients, loaded before any is used
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const bool ok = tb + u < tStop && tb + u < te;
      xs[u] = ok ? ldx(x, xF32, (long long)(tb + u) * D + c) : 0.f;
      gs[u] = ok ? ldx(dy, xF32, (long long)(tb + u) * D + c) : 0.f;
    }
#pragma unroll
    for (int uu = 0; uu < U; ++uu) {
      const int t = tb + uu;
      if (t >= tStop) break;
      float dpre = 0.f;
      if (t < te) {
#pragma unroll
        for (int j = 0; j < WMAX; ++j)
          if (j == W - 1) win[j] = xs[uu];
        float pre = b;
#pragma unroll
        for (int j = 0; j < WMAX; ++j) if (j < W) pre += wt[j] * win[j];
        const float g = gs[uu];
        if (silu) {
          const float sg = 1.f / (1.f + expf(-pre));
          dpre = g * sg * (1.f + pre * (1.f - sg));
        } else {
          dpre = g;
        }
        if (t < tEnd) {
#pragma unroll
          for (int j = 0; j < WMAX; ++j) if (j < W) dw[j] += dpre * win[j];
          db += dpre;
        }
#pragma unroll
        for (int j = 0; j + 1 < WMAX; ++j) win[j] = win[j + 1];
      }
      // dwin[j] = dpre_{u + j} for u = t - (W-1)
#pragma unroll
      for (int j = 0; j + 1 < WMAX; ++j) dwin[j] = dwin[j + 1];
#pragma unroll
      for (int j = 0; j < WMAX; ++j)
        if (j == W - 1) dwin[j] = dpre;
      const int u = t - (W - 1);
      float gx = 0.f;
#pragma unroll
      for (int j = 0; j < WMAX; ++j) if (j < W) gx += dwin[j] * wrev[j];
      if (dTailT && u >= tailStart) gx += ldx(dTailT, xF32, ((long long)n * (W - 1) + (u - tailStart)) * D + c);
      if (u >= tBeg && u < tEnd) {
        stx(dx, xF32, (long long)u * D + c, gx);
      } else if (u < ts && tBeg == ts && dTail0 && u >= ts - (W - 1)) {
        stx(dTail0, xF32, ((long long)n * (W - 1) + (W - 1) + (u - ts)) * D + c, gx);
      }
    }
  }
#pragma unroll
  for (int j = 0; j < WMAX; ++j) if (j < W) atomicAdd(dwAcc + (long long)c * W + j, dw[j]);
  if (dbAcc) atomicAdd(dbAcc + c, db);
}

// f32 -> f32 or bf16 (the parameter gradients in the parameters' dtype)
extern "C" __global__ void conv_cast(const float* __restrict__ src, void* __restrict__ dst, int dstF32, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x)
    stx(dst, dstF32, i, src[i]);
}
