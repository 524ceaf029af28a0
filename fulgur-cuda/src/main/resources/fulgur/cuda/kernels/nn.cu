// Row-wise neural-network kernels of the CUDA backend: softmax / log-softmax (forward, backward), fused
// cross-entropy with ignore index and label smoothing (forward, backward), embedding (forward, backward by
// atomic scatter-add), RMSNorm and LayerNorm (forward, backward; parameter gradients by column partials).
//
// Inputs are contiguous [rows, cols] of any floating dtype (the Java side copies strided ones); C is the
// compute type (float for f32/bf16/f16, double for f64); reductions accumulate in double. One block per
// row (grid-stride over rows); a row is never staged in shared memory, so any width works (large
// vocabularies stream through in chunks of blockDim elements).
#include "tensor_common.cuh"

// ------------------------------------------------------------------------------------------ softmax

template <typename C>
static __device__ void softmax_body(const void* x, int xt, void* y, int yt, i64 rows, int cols, int logMode) {
  __shared__ double sc[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 base = r * cols;
    C m = -(C)D_INF;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) m = nmax(m, ld_c<C>(x, xt, base + c));
    m = (C)block_max<double>((double)m, sc);
    if (sizeof(C) == 4 && m == -(C)D_INF) m = 0;
    double s = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += (double)exp(ld_c<C>(x, xt, base + c) - m);
    s = block_sum<double>(s, sc);
    if (logMode) {
      C lse = (C)((double)m + log(s));
      for (int c = threadIdx.x; c < cols; c += blockDim.x) st_c<C>(y, yt, base + c, ld_c<C>(x, xt, base + c) - lse);
    } else {
      C inv = (C)(1.0 / s);
      for (int c = threadIdx.x; c < cols; c += blockDim.x) st_c<C>(y, yt, base + c, exp(ld_c<C>(x, xt, base + c) - m) * inv);
    }
  }
}
extern "C" __global__ void nn_softmax_f(const void* x, int xt, void* y, int yt, long long rows, int cols, int logMode) {
  softmax_body<float>(x, xt, y, yt, rows, cols, logMode);
}
extern "C" __global__ void nn_softmax_d(const void* x, int xt, void* y, int yt, long long rows, int cols, int logMode) {
  softmax_body<double>(x, xt, y, yt, rows, cols, logMode);
}

// dx = log ? g - exp(y)·Σg : y·(g - Σ g·y), in double as the CPU backend
extern "C" __global__ void nn_softmax_bwd(const void* y, int yt, const void* g, int gt, void* dx, int dxt, long long rows, int cols, int logMode) {
  __shared__ double sc[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 base = r * cols;
    double dot = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      double gv = ld_d(g, gt, base + c);
      dot += logMode ? gv : gv * ld_d(y, yt, base + c);
    }
    dot = block_sum<double>(dot, sc);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      double gv = ld_d(g, gt, base + c), yv = ld_d(y, yt, base + c);
      st_d(dx, dxt, base + c, logMode ? gv - exp(yv) * dot : yv * (gv - dot));
    }
  }
}

// ------------------------------------------------------------------------------------------ cross-entropy

// bf16 rows whose width is a multiple of 8 go 16 bytes per load: one element per thread and load keeps too few bytes
// in flight to stream a vocabulary-wide row at the memory's speed (the rows start 16-byte aligned: cols % 8 == 0).
static __device__ __forceinline__ bool ce_vec8(const void* x, int xt, int cols) {
  return xt == DT_BF16 && (cols & 7) == 0 && (((unsigned long long)x) & 15) == 0;
}
static __device__ __forceinline__ void ld8_bf16(const void* p, i64 i, float* out) {
  uint4 u = *(const uint4*)((const __nv_bfloat16*)p + i);
  const __nv_bfloat162* h = (const __nv_bfloat162*)&u;
#pragma unroll
  for (int j = 0; j < 4; j++) {
    float2 f = __bfloat1622float2(h[j]);
    out[2 * j] = f.x;
    out[2 * j + 1] = f.y;
  }
}
static __device__ __forceinline__ void st8_bf16(void* p, i64 i, const float* v) {
  uint4 u;
  __nv_bfloat162* h = (__nv_bfloat162*)&u;
#pragma unroll
  for (int j = 0; j < 4; j++) h[j] = __floats2bfloat162_rn(v[2 * j], v[2 * j + 1]);
  *(uint4*)((__nv_bfloat16*)p + i) = u;
}
// Online max and sum of exp over this thread's groups of 8 (one rescale per group), and Σx when wanted. Four groups
// are loaded before any is used (more bytes in flight per thread); they are taken in the same order as one at a time.
static __device__ __forceinline__ void ce_row_stats8(const void* x, i64 base, int cols, float& m, float& s, double* sumX) {
  const float NEG = -F_INF;
  const int stride = blockDim.x * 8;
  for (int c0 = threadIdx.x * 8; c0 < cols; c0 += 4 * stride) {
    uint4 us[4];
#pragma unroll
    for (int k = 0; k < 4; k++)
      if (c0 + k * stride < cols) us[k] = *(const uint4*)((const __nv_bfloat16*)x + base + c0 + k * stride);
#pragma unroll
    for (int k = 0; k < 4; k++) {
      if (c0 + k * stride >= cols) break;
      float v[8];
      ld8_bf16(&us[k], 0, v);
      float gm = v[0];
#pragma unroll
      for (int j = 1; j < 8; j++) gm = fmaxf(gm, v[j]);
      if (gm > m) {
        s = m == NEG ? 0.f : s * expf(m - gm);
        m = gm;
      }
      float part = 0, px = 0;
#pragma unroll
      for (int j = 0; j < 8; j++) {
        part += expf(v[j] - m);
        px += v[j];
      }
      if (m != NEG) s += part; // a group of -inf so far adds nothing (exp(-inf - -inf) would be NaN)
      if (sumX) *sumX += (double)px;
    }
  }
}

// Per row: online max / sum of exp (one pass over the row), Σx for the smoothing term, x[target].
// rowLoss[r] = (1-eps)(lse - x_t) + eps (lse - Σx/V); ignored rows get NaN-free 0 and flag[r] = 0.
template <typename C>
static __device__ void ce_fwd_body(const void* x, int xt, const void* tg, int tt, i64 rows, int cols, int ignore, double eps,
    double* rowLoss, long long* err) {
  __shared__ double sc[32];
  __shared__ double sm[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 t = ld_l(tg, tt, r);
    if (t == ignore) {
      if (threadIdx.x == 0) rowLoss[r] = 0;
      continue;
    }
    if (t < 0 || t >= cols) {
      if (threadIdx.x == 0) { report_bad(err, r); rowLoss[r] = 0; }
      continue;
    }
    i64 base = r * cols;
    // per thread: online max and sum of exp in the compute type (f32 for f32/bf16), combined in double
    const C NEG = -(C)D_INF;
    C m = NEG, s = 0;
    double sx = 0;
    if (sizeof(C) == 4 && ce_vec8(x, xt, cols)) {
      float fm = -F_INF, fs = 0;
      ce_row_stats8(x, base, cols, fm, fs, &sx);
      m = (C)fm;
      s = (C)fs;
    } else {
      for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        C v = ld_c<C>(x, xt, base + c);
        sx += (double)v;
        if (v > m) { s = (m == NEG ? C(0) : s * exp(m - v)) + C(1); m = v; }
        else if (m != NEG) s += exp(v - m);
      }
    }
    double gm = block_max<double>((double)m, sm);
    double part = (m == NEG) ? 0.0 : (double)s * exp((double)m - gm);
    double sum = block_sum<double>(part, sc);
    double sumX = block_sum<double>(sx, sc);
    if (threadIdx.x == 0) {
      double lse = gm + log(sum);
      double nll = lse - (double)ld_c<C>(x, xt, base + t);
      double smooth = lse - sumX / cols;
      rowLoss[r] = (1 - eps) * nll + (eps == 0 ? 0.0 : eps * smooth); // no 0·∞ when a logit is -inf
    }
  }
}
extern "C" __global__ void nn_ce_fwd_f(const void* x, int xt, const void* tg, int tt, long long rows, int cols, int ignore, double eps,
    double* rowLoss, long long* err) {
  ce_fwd_body<float>(x, xt, tg, tt, rows, cols, ignore, eps, rowLoss, err);
}
extern "C" __global__ void nn_ce_fwd_d(const void* x, int xt, const void* tg, int tt, long long rows, int cols, int ignore, double eps,
    double* rowLoss, long long* err) {
  ce_fwd_body<double>(x, xt, tg, tt, rows, cols, ignore, eps, rowLoss, err);
}

// out = Σ rowLoss / count (0 when every row is ignored); count written to *countOut. One block.
extern "C" __global__ void nn_ce_reduce(const double* rowLoss, const void* tg, int tt, long long rows, int ignore, void* out, int ot,
    long long* countOut) {
  __shared__ double sc[32];
  double tot = 0, cnt = 0;
  for (i64 r = threadIdx.x; r < rows; r += blockDim.x) {
    if (ld_l(tg, tt, r) != ignore) { tot += rowLoss[r]; cnt += 1; }
  }
  tot = block_sum<double>(tot, sc);
  cnt = block_sum<double>(cnt, sc);
  if (threadIdx.x == 0) {
    st_d(out, ot, 0, cnt == 0 ? 0.0 : tot / cnt);
    if (countOut) *countOut = (long long)cnt;
  }
}

// Rows whose target is not the ignore index (one block).
extern "C" __global__ void nn_ce_count(const void* tg, int tt, long long rows, int ignore, long long* countOut) {
  __shared__ double sc[32];
  double cnt = 0;
  for (i64 r = threadIdx.x; r < rows; r += blockDim.x) if (ld_l(tg, tt, r) != ignore) cnt += 1;
  cnt = block_sum<double>(cnt, sc);
  if (threadIdx.x == 0) *countOut = (long long)cnt;
}

// dlogits = (softmax - ((1-eps)·onehot + eps/V)) · gradOut / count; ignored rows 0. gradOut is read from device
// memory (a one-element tensor of dtype gt), so a captured step needs no host value.
template <typename C>
static __device__ void ce_bwd_body(const void* x, int xt, const void* tg, int tt, i64 rows, int cols, int ignore, double eps,
    const void* gradOut, int gt, const long long* count, void* dx, int dxt, long long* err) {
  __shared__ double sc[32];
  __shared__ double sm[32];
  long long cnt = *count;
  double scale = cnt == 0 ? 0.0 : ld_d(gradOut, gt, 0) / (double)cnt;
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 base = r * cols;
    i64 t = ld_l(tg, tt, r);
    bool bad = t != ignore && (t < 0 || t >= cols);
    if (t == ignore || bad) {
      if (bad && threadIdx.x == 0) report_bad(err, r);
      for (int c = threadIdx.x; c < cols; c += blockDim.x) st_c<C>(dx, dxt, base + c, C(0));
      continue;
    }
    const C NEG = -(C)D_INF;
    C m = NEG, s = 0;
    bool vec = sizeof(C) == 4 && ce_vec8(x, xt, cols) && dxt == DT_BF16 && (((unsigned long long)dx) & 15) == 0;
    if (vec) {
      float fm = -F_INF, fs = 0;
      ce_row_stats8(x, base, cols, fm, fs, nullptr);
      m = (C)fm;
      s = (C)fs;
    } else {
      for (int c = threadIdx.x; c < cols; c += blockDim.x) {
        C v = ld_c<C>(x, xt, base + c);
        if (v > m) { s = (m == NEG ? C(0) : s * exp(m - v)) + C(1); m = v; }
        else if (m != NEG) s += exp(v - m);
      }
    }
    double gm = block_max<double>((double)m, sm);
    double part = (m == NEG) ? 0.0 : (double)s * exp((double)m - gm);
    double inv = 1.0 / block_sum<double>(part, sc);
    C cm = (C)gm;
    C cinv = (C)inv;
    C sv = (C)(eps / cols);
    C hot = (C)(1 - eps);
    C cs = (C)scale;
    if (vec) {
      for (int c = threadIdx.x * 8; c < cols; c += blockDim.x * 8) {
        float v[8];
        ld8_bf16(x, base + c, v);
#pragma unroll
        for (int j = 0; j < 8; j++) {
          float p = expf(v[j] - (float)cm) * (float)cinv;
          float target = (c + j == t ? (float)hot : 0.f) + (float)sv;
          v[j] = (p - target) * (float)cs;
        }
        st8_bf16(dx, base + c, v);
      }
      continue;
    }
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      C p = exp(ld_c<C>(x, xt, base + c) - cm) * cinv;
      C target = (c == t ? hot : C(0)) + sv;
      st_c<C>(dx, dxt, base + c, (p - target) * cs);
    }
  }
}
extern "C" __global__ void nn_ce_bwd_f(const void* x, int xt, const void* tg, int tt, long long rows, int cols, int ignore, double eps,
    const void* gradOut, int gt, const long long* count, void* dx, int dxt, long long* err) {
  ce_bwd_body<float>(x, xt, tg, tt, rows, cols, ignore, eps, gradOut, gt, count, dx, dxt, err);
}
extern "C" __global__ void nn_ce_bwd_d(const void* x, int xt, const void* tg, int tt, long long rows, int cols, int ignore, double eps,
    const void* gradOut, int gt, const long long* count, void* dx, int dxt, long long* err) {
  ce_bwd_body<double>(x, xt, tg, tt, rows, cols, ignore, eps, gradOut, gt, count, dx, dxt, err);
}

// Loss and gradient of each row (bf16, cols % 8 == 0, 16-byte aligned rows; dx bf16 aligned) in two passes over the
// row: the first takes the online max and Σexp and Σx (as nn_ce_fwd_f), the second reads the row again and writes the
// gradient (as nn_ce_bwd_f; gradOut read on the device, over *count valid rows). The launch keeps the rows in flight
// within L2, so the second pass reads L2 and the logits come from device memory once, the gradient goes there once.
// No copy of the row in shared memory: several rows share a multiprocessor and one row's reductions overlap another's
// loads (a 64K-word row in shared memory allowed one row per multiprocessor, each waiting out its own load).
extern "C" __global__ void __launch_bounds__(512, 2) nn_ce_fused_bf16(const void* x, const void* tg, int tt, long long rows, int cols,
    int ignore, double eps, const void* gradOut, int gt, const long long* count, double* rowLoss, void* dx, long long* err) {
  __shared__ double sc[32];
  __shared__ double sm[32];
  const long long cnt = *count;
  const float cs = (float)(cnt == 0 ? 0.0 : ld_d(gradOut, gt, 0) / (double)cnt);
  const float sv = (float)(eps / cols), hot = (float)(1 - eps);
  const int n8 = cols >> 3;
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    const i64 base = r * cols;
    const i64 t = ld_l(tg, tt, r);
    const bool bad = t != ignore && (t < 0 || t >= cols);
    uint4* drow = reinterpret_cast<uint4*>((__nv_bfloat16*)dx + base);
    if (t == ignore || bad) {
      if (threadIdx.x == 0) {
        if (bad) report_bad(err, r);
        rowLoss[r] = 0;
      }
      for (int c = threadIdx.x; c < n8; c += blockDim.x) drow[c] = make_uint4(0, 0, 0, 0);
      continue;
    }
    float m = -F_INF, s = 0;
    double sx = 0;
    ce_row_stats8(x, base, cols, m, s, &sx);
    const double gm = block_max<double>((double)m, sm);
    const double sum = block_sum<double>(m == -F_INF ? 0.0 : (double)s * exp((double)m - gm), sc);
    const double sumX = block_sum<double>(sx, sc);
    if (threadIdx.x == 0) {
      double lse = gm + log(sum);
      double nll = lse - (double)__bfloat162float(((const __nv_bfloat16*)x)[base + t]);
      double smooth = lse - sumX / cols;
      rowLoss[r] = (1 - eps) * nll + (eps == 0 ? 0.0 : eps * smooth);
    }
    const float inv = (float)(1.0 / sum), fgm = (float)gm;
    for (int c0 = threadIdx.x; c0 < n8; c0 += 4 * blockDim.x) {
      uint4 us[4];  // four groups loaded before any is stored
#pragma unroll
      for (int k = 0; k < 4; k++)
        if (c0 + k * blockDim.x < n8) us[k] = *(const uint4*)((const __nv_bfloat16*)x + base + 8 * (i64)(c0 + k * blockDim.x));
#pragma unroll
      for (int k = 0; k < 4; k++) {
        const int c = c0 + k * blockDim.x;
        if (c >= n8) break;
        float v[8];
        ld8_bf16(&us[k], 0, v);
#pragma unroll
        for (int j = 0; j < 8; j++) {
          float p = expf(v[j] - fgm) * inv;
          float target = (8 * c + j == t ? hot : 0.f) + sv;
          v[j] = (p - target) * cs;
        }
        st8_bf16(drow, 8 * (i64)c, v);
      }
    }
  }
}

// ------------------------------------------------------------------------------------------ embedding

// out[i, :] = w[ids[i], :] (w contiguous [vocab, dim], es-byte elements); bad ids are reported, their rows left.
extern "C" __global__ void nn_embedding(const void* w, int es, const void* ids, int it, void* out, long long n, int dim, long long vocab,
    int vec16, long long* err) {
  for (i64 i = blockIdx.x; i < n; i += gridDim.x) {
    i64 id = ld_l(ids, it, i);
    if (id < 0 || id >= vocab) {
      if (threadIdx.x == 0) report_bad(err, i);
      continue;
    }
    if (vec16) {
      int chunks = dim * es / 16;
      const uint4* src = (const uint4*)((const char*)w + id * (i64)dim * es);
      uint4* dst = (uint4*)((char*)out + i * (i64)dim * es);
      for (int c = threadIdx.x; c < chunks; c += blockDim.x) dst[c] = src[c];
    } else {
      for (int c = threadIdx.x; c < dim; c += blockDim.x) {
        if (es == 8) ((long long*)out)[i * dim + c] = ((const long long*)w)[id * dim + c];
        else if (es == 4) ((int*)out)[i * dim + c] = ((const int*)w)[id * dim + c];
        else ((short*)out)[i * dim + c] = ((const short*)w)[id * dim + c];
      }
    }
  }
}

// ------------------------------------------------------------------------------------------ norms

// RMSNorm: y = x·rstd (·gain), rstd = 1/sqrt(mean(x²) + eps) stored in the compute type (rt).
extern "C" __global__ void nn_rmsnorm(const void* x, int xt, const void* gain, int gnt, void* y, int yt, void* rstd, int rt, long long rows,
    int cols, double eps) {
  __shared__ double sc[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 base = r * cols;
    double ss = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) { double v = ld_d(x, xt, base + c); ss += v * v; }
    ss = block_sum<double>(ss, sc);
    double inv = 1.0 / sqrt(ss / cols + eps);
    if (threadIdx.x == 0) st_d(rstd, rt, r, inv);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      double v = ld_d(x, xt, base + c) * inv;
      if (gain) v *= ld_d(gain, gnt, c);
      st_d(y, yt, base + c, v);
    }
  }
}

// dx = inv·(dy⊙g − x̂·mean(dy⊙g⊙x̂)) (+ res: the gradient summed so far for x, when not null), x̂ = x·inv
extern "C" __global__ void nn_rmsnorm_bwd(const void* x, int xt, const void* gain, int gnt, const void* rstd, int rt, const void* dy, int dyt,
    const void* res, int rst, void* dx, int dxt, long long rows, int cols) {
  __shared__ double sc[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 base = r * cols;
    double inv = ld_d(rstd, rt, r);
    double dot = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      double gy = ld_d(dy, dyt, base + c) * (gain ? ld_d(gain, gnt, c) : 1.0);
      dot += gy * ld_d(x, xt, base + c) * inv;
    }
    dot = block_sum<double>(dot, sc) / cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      double gy = ld_d(dy, dyt, base + c) * (gain ? ld_d(gain, gnt, c) : 1.0);
      st_d(dx, dxt, base + c, inv * (gy - ld_d(x, xt, base + c) * inv * dot) + (res ? ld_d(res, rst, base + c) : 0.0));
    }
  }
}

// LayerNorm forward: mean and rstd in the compute type.
extern "C" __global__ void nn_layernorm(const void* x, int xt, const void* w, int wt, const void* b, int bt, void* y, int yt, void* mean,
    void* rstd, int st, long long rows, int cols, double eps) {
  __shared__ double sc[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 base = r * cols;
    double s = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += ld_d(x, xt, base + c);
    double mu = block_sum<double>(s, sc) / cols;
    double var = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) { double dv = ld_d(x, xt, base + c) - mu; var += dv * dv; }
    var = block_sum<double>(var, sc);
    double inv = 1.0 / sqrt(var / cols + eps);
    if (threadIdx.x == 0) { st_d(mean, st, r, mu); st_d(rstd, st, r, inv); }
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      double v = (ld_d(x, xt, base + c) - mu) * inv;
      if (w) v *= ld_d(w, wt, c);
      if (b) v += ld_d(b, bt, c);
      st_d(y, yt, base + c, v);
    }
  }
}

// dx = inv·(g − mean(g) − x̂·mean(g·x̂)), g = dy⊙w
extern "C" __global__ void nn_layernorm_bwd(const void* x, int xt, const void* w, int wt, const void* mean, const void* rstd, int st,
    const void* dy, int dyt, void* dx, int dxt, long long rows, int cols) {
  __shared__ double sc[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 base = r * cols;
    double mu = ld_d(mean, st, r), inv = ld_d(rstd, st, r);
    double sg = 0, sgx = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      double xh = (ld_d(x, xt, base + c) - mu) * inv;
      double g = ld_d(dy, dyt, base + c) * (w ? ld_d(w, wt, c) : 1.0);
      sg += g;
      sgx += g * xh;
    }
    sg = block_sum<double>(sg, sc) / cols;
    sgx = block_sum<double>(sgx, sc) / cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      double xh = (ld_d(x, xt, base + c) - mu) * inv;
      double g = ld_d(dy, dyt, base + c) * (w ? ld_d(w, wt, c) : 1.0);
      st_d(dx, dxt, base + c, inv * (g - sg - xh * sgx));
    }
  }
}

// Column partials of the parameter gradients: part[s][c] = Σ_{rows of split s} dy·x̂ and, with wantBias,
// part[splits + s][c] = Σ dy. x̂ = (x − mean)·rstd (mean null for RMSNorm). One thread per column.
extern "C" __global__ void nn_norm_param_partial(const void* x, int xt, const void* mean, const void* rstd, int st, const void* dy, int dyt,
    long long rows, int cols, int splits, int wantBias, double* part) {
  int s = blockIdx.y;
  i64 chunk = (rows + splits - 1) / splits;
  i64 r0 = s * chunk, r1 = min(rows, r0 + chunk);
  for (i64 c = blockIdx.x * (i64)blockDim.x + threadIdx.x; c < cols; c += (i64)gridDim.x * blockDim.x) {
    double a = 0, b = 0;
    for (i64 r = r0; r < r1; r++) {
      double g = ld_d(dy, dyt, r * cols + c);
      double xh = (ld_d(x, xt, r * cols + c) - (mean ? ld_d(mean, st, r) : 0.0)) * ld_d(rstd, st, r);
      a += g * xh;
      b += g;
    }
    part[(i64)s * cols + c] = a;
    if (wantBias) part[(i64)(splits + s) * cols + c] = b;
  }
}

// out[c] = Σ_s part[offsetSplits + s][c]
extern "C" __global__ void nn_sum_splits(const double* part, int splits, int offsetSplits, int cols, void* out, int ot) {
  for (i64 c = blockIdx.x * (i64)blockDim.x + threadIdx.x; c < cols; c += (i64)gridDim.x * blockDim.x) {
    double a = 0;
    for (int s = 0; s < splits; s++) a += part[(i64)(offsetSplits + s) * cols + c];
    st_d(out, ot, c, a);
  }
}

// ------------------------------------------------------------------------------------------ RMSNorm then a gate
// y = x·rstd·gain ⊙ act(z), act 0 none, 1 SiLU, 2 sigmoid (fla's FusedRMSNormGated); rstd per row as nn_rmsnorm.
// z's rows are zs apart and dz's dzs apart (a column slice of a fused projection and of its gradient).
// The backward writes dx and dz in one pass per row; the gain's gradient Σ_rows dy·act(z)·x̂ goes through column
// partials (nn_rmsnorm_gated_param_partial, then nn_sum_splits).
static __device__ __forceinline__ double gate_act(double z, int act, double* dact) {
  if (act == 0) { *dact = 1; return z; }
  double s = z >= 0 ? 1 / (1 + exp(-z)) : exp(z) / (1 + exp(z));
  if (act == 1) { *dact = s * (1 + z * (1 - s)); return z * s; }
  *dact = s * (1 - s);
  return s;
}

extern "C" __global__ void nn_rmsnorm_gated(const void* x, int xt, const void* gain, int gnt, const void* z, int zt, long long zs, int act,
    void* y, int yt, void* rstd, int rt, long long rows, int cols, double eps) {
  __shared__ double sc[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 base = r * cols;
    double ss = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) { double v = ld_d(x, xt, base + c); ss += v * v; }
    ss = block_sum<double>(ss, sc);
    double inv = 1.0 / sqrt(ss / cols + eps);
    if (threadIdx.x == 0) st_d(rstd, rt, r, inv);
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      double v = ld_d(x, xt, base + c) * inv, da;
      if (gain) v *= ld_d(gain, gnt, c);
      st_d(y, yt, base + c, v * gate_act(ld_d(z, zt, r * zs + c), act, &da));
    }
  }
}

// dx = inv·(gy − x̂·mean(gy·x̂)) with gy = dy·act(z)·gain, dz = dy·x̂·gain·act'(z)
extern "C" __global__ void nn_rmsnorm_gated_bwd(const void* x, int xt, const void* gain, int gnt, const void* z, int zt, long long zs, int act,
    const void* rstd, int rt, const void* dy, int dyt, void* dx, int dxt, void* dz, int dzt, long long dzs, long long rows, int cols) {
  __shared__ double sc[32];
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 base = r * cols;
    double inv = ld_d(rstd, rt, r);
    double dot = 0;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      double da, w = gain ? ld_d(gain, gnt, c) : 1.0;
      double gy = ld_d(dy, dyt, base + c) * gate_act(ld_d(z, zt, r * zs + c), act, &da) * w;
      dot += gy * ld_d(x, xt, base + c) * inv;
    }
    dot = block_sum<double>(dot, sc) / cols;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) {
      double da, w = gain ? ld_d(gain, gnt, c) : 1.0;
      double g = ld_d(dy, dyt, base + c), xh = ld_d(x, xt, base + c) * inv;
      double a = gate_act(ld_d(z, zt, r * zs + c), act, &da);
      st_d(dx, dxt, base + c, inv * (g * a * w - xh * dot));
      st_d(dz, dzt, r * dzs + c, g * xh * w * da);
    }
  }
}

// part[s][c] = Σ_{rows of split s} dy·act(z)·x̂; one thread per column, as nn_norm_param_partial
extern "C" __global__ void nn_rmsnorm_gated_param_partial(const void* x, int xt, const void* z, int zt, long long zs, int act, const void* rstd, int rt,
    const void* dy, int dyt, long long rows, int cols, int splits, double* part) {
  int s = blockIdx.y;
  i64 chunk = (rows + splits - 1) / splits;
  i64 r0 = s * chunk, r1 = min(rows, r0 + chunk);
  for (i64 c = blockIdx.x * (i64)blockDim.x + threadIdx.x; c < cols; c += (i64)gridDim.x * blockDim.x) {
    double a = 0;
    for (i64 r = r0; r < r1; r++) {
      double da;
      a += ld_d(dy, dyt, r * cols + c) * gate_act(ld_d(z, zt, r * zs + c), act, &da) * ld_d(x, xt, r * cols + c) * ld_d(rstd, rt, r);
    }
    part[(i64)s * cols + c] = a;
  }
}

// ------------------------------------------------------------------------------------------ vectorised RMSNorm (f32/bf16)
// Contiguous rows with cols % 4 == 0; x, gain (or null), y, dy of one dtype T; rstd f32. f32 math per element,
// f64 row sums (the CPU backend's results to f32 rounding).

static __device__ __forceinline__ void v4ld(const float* p, i64 i, float* v) {
  float4 x = *reinterpret_cast<const float4*>(p + i);
  v[0] = x.x; v[1] = x.y; v[2] = x.z; v[3] = x.w;
}
static __device__ __forceinline__ void v4ld(const __nv_bfloat16* p, i64 i, float* v) {
  uint2 x = *reinterpret_cast<const uint2*>(p + i);
  float2 a = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&x.x));
  float2 b = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&x.y));
  v[0] = a.x; v[1] = a.y; v[2] = b.x; v[3] = b.y;
}
static __device__ __forceinline__ void v4st(float* p, i64 i, const float* v) {
  *reinterpret_cast<float4*>(p + i) = make_float4(v[0], v[1], v[2], v[3]);
}
static __device__ __forceinline__ void v4st(__nv_bfloat16* p, i64 i, const float* v) {
  __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]);
  __nv_bfloat162 b = __floats2bfloat162_rn(v[2], v[3]);
  uint2 x;
  x.x = *reinterpret_cast<unsigned*>(&a);
  x.y = *reinterpret_cast<unsigned*>(&b);
  *reinterpret_cast<uint2*>(p + i) = x;
}

template <typename T>
static __device__ void rmsnorm_v(const T* x, const T* gain, T* y, float* rstd, i64 rows, int cols, double eps) {
  __shared__ double sc[32];
  int c4 = cols >> 2;
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 base = r * cols;
    float ss = 0;
    for (int j = threadIdx.x; j < c4; j += blockDim.x) {
      float v[4];
      v4ld(x, base + 4 * j, v);
      ss += v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3];
    }
    double tot = block_sum<double>((double)ss, sc);
    float inv = (float)(1.0 / sqrt(tot / cols + eps));
    if (threadIdx.x == 0) rstd[r] = inv;
    for (int j = threadIdx.x; j < c4; j += blockDim.x) {
      float v[4], gv[4] = {1, 1, 1, 1};
      v4ld(x, base + 4 * j, v);
      if (gain) v4ld(gain, 4 * j, gv);
#pragma unroll
      for (int k = 0; k < 4; k++) v[k] = v[k] * inv * gv[k];
      v4st(y, base + 4 * j, v);
    }
  }
}
extern "C" __global__ void nn_rmsnorm_v_f32(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols, double eps) {
  rmsnorm_v(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_v_bf16(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd, long long rows,
    int cols, double eps) {
  rmsnorm_v(x, gain, y, rstd, rows, cols, eps);
}

template <typename T>
static __device__ void rmsnorm_bwd_v(const T* x, const T* gain, const float* rstd, const T* dy, const T* res, T* dx, i64 rows, int cols) {
  __shared__ double sc[32];
  int c4 = cols >> 2;
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    i64 base = r * cols;
    float inv = rstd[r];
    float dot = 0;
    for (int j = threadIdx.x; j < c4; j += blockDim.x) {
      float v[4], g[4], gv[4] = {1, 1, 1, 1};
      v4ld(x, base + 4 * j, v);
      v4ld(dy, base + 4 * j, g);
      if (gain) v4ld(gain, 4 * j, gv);
#pragma unroll
      for (int k = 0; k < 4; k++) dot += g[k] * gv[k] * v[k];
    }
    float mean = (float)(block_sum<double>((double)dot, sc) * inv / cols);
    for (int j = threadIdx.x; j < c4; j += blockDim.x) {
      float v[4], g[4], gv[4] = {1, 1, 1, 1}, o[4], rv[4] = {0, 0, 0, 0};
      v4ld(x, base + 4 * j, v);
      v4ld(dy, base + 4 * j, g);
      if (gain) v4ld(gain, 4 * j, gv);
      if (res) v4ld(res, base + 4 * j, rv);
#pragma unroll
      for (int k = 0; k < 4; k++) o[k] = inv * (g[k] * gv[k] - v[k] * inv * mean) + rv[k];
      v4st(dx, base + 4 * j, o);
    }
  }
}
extern "C" __global__ void nn_rmsnorm_bwd_v_f32(const float* x, const float* gain, const float* rstd, const float* dy, const float* res, float* dx,
    long long rows, int cols) {
  rmsnorm_bwd_v(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_v_bf16(const __nv_bfloat16* x, const __nv_bfloat16* gain, const float* rstd, const __nv_bfloat16* dy,
    const __nv_bfloat16* res, __nv_bfloat16* dx, long long rows, int cols) {
  rmsnorm_bwd_v(x, gain, rstd, dy, res, dx, rows, cols);
}

// ------------------------------------------------------------------------------------------ RMSNorm, one warp a row
// Rows of NV = 1..8 sixteen-byte vectors per lane (bf16: cols a multiple of 256 up to 2048; f32: of 128 up to 1024),
// contiguous and 16-byte aligned: each warp reads its row once into registers, sums with shuffles (no shared memory, no
// block barrier), and writes it; 8 rows per 256-thread block. The same math as rmsnorm_v: f32 per element, a float
// partial sum per lane, the row's sum in double.

template <typename T> struct Vec16;
template <> struct Vec16<float> {
  static constexpr int N = 4;
  static __device__ __forceinline__ void ld(const float* p, float* v) {
    float4 x = *reinterpret_cast<const float4*>(p);
    v[0] = x.x; v[1] = x.y; v[2] = x.z; v[3] = x.w;
  }
  static __device__ __forceinline__ void st(float* p, const float* v) {
    *reinterpret_cast<float4*>(p) = make_float4(v[0], v[1], v[2], v[3]);
  }
  static __device__ __forceinline__ void round(float*) {}
};
template <> struct Vec16<__nv_bfloat16> {
  static constexpr int N = 8;
  static __device__ __forceinline__ void ld(const __nv_bfloat16* p, float* v) {
    uint4 x = *reinterpret_cast<const uint4*>(p);
    const unsigned w[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
    for (int k = 0; k < 4; k++) {
      float2 f = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w[k]));
      v[2 * k] = f.x;
      v[2 * k + 1] = f.y;
    }
  }
  static __device__ __forceinline__ void st(__nv_bfloat16* p, const float* v) {
    unsigned w[4];
#pragma unroll
    for (int k = 0; k < 4; k++) {
      __nv_bfloat162 b = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
      w[k] = *reinterpret_cast<unsigned*>(&b);
    }
    *reinterpret_cast<uint4*>(p) = make_uint4(w[0], w[1], w[2], w[3]);
  }
  static __device__ __forceinline__ void round(float* v) {
#pragma unroll
    for (int k = 0; k < N; k++) v[k] = __bfloat162float(__float2bfloat16_rn(v[k]));
  }
};

static __device__ __forceinline__ double warp_sum_d(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// With add (and sum) not null the row normalised is x + add, rounded to T as t_binary_c rounds it and written to sum:
// a pre-norm block's residual sum and the next norm in one pass (nn_add_rmsnorm_w_*).
template <typename T, int NV>
static __device__ void rmsnorm_w(const T* x, const T* gain, T* y, float* rstd, i64 rows, int cols, double eps,
    const T* add = nullptr, T* sum = nullptr) {
  constexpr int N = Vec16<T>::N;
  const int lane = threadIdx.x & 31;
  const i64 warps = (i64)gridDim.x * (blockDim.x >> 5);
  for (i64 r = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    const T* xr = x + r * cols;
    float v[NV][N];
    float ss = 0;
#pragma unroll
    for (int i = 0; i < NV; i++) {
      Vec16<T>::ld(xr + (i * 32 + lane) * N, v[i]);
      if (add) {
        float a[N];
        Vec16<T>::ld(add + r * cols + (i * 32 + lane) * N, a);
#pragma unroll
        for (int k = 0; k < N; k++) v[i][k] += a[k];
        Vec16<T>::st(sum + r * cols + (i * 32 + lane) * N, v[i]);
        Vec16<T>::round(v[i]);  // the stored sum, as the composed norm reads it
      }
#pragma unroll
      for (int k = 0; k < N; k++) ss += v[i][k] * v[i][k];
    }
    double tot = warp_sum_d((double)ss);
    float inv = (float)(1.0 / sqrt(tot / cols + eps));
    if (lane == 0) rstd[r] = inv;
#pragma unroll
    for (int i = 0; i < NV; i++) {
      float gv[N], o[N];
      if (gain) Vec16<T>::ld(gain + (i * 32 + lane) * N, gv);
#pragma unroll
      for (int k = 0; k < N; k++) o[k] = v[i][k] * inv * (gain ? gv[k] : 1.0f);
      Vec16<T>::st(y + r * cols + (i * 32 + lane) * N, o);
    }
  }
}
// nn_rmsnorm_w_<dtype>_<vectors per lane>, written out (the launcher reads each kernel's parameters from this source)
extern "C" __global__ void nn_rmsnorm_w_f32_1(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols, double eps) {
  rmsnorm_w<float, 1>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_bf16_1(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd, long long rows,
    int cols, double eps) {
  rmsnorm_w<__nv_bfloat16, 1>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_f32_2(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols, double eps) {
  rmsnorm_w<float, 2>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_bf16_2(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd, long long rows,
    int cols, double eps) {
  rmsnorm_w<__nv_bfloat16, 2>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_f32_3(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols, double eps) {
  rmsnorm_w<float, 3>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_bf16_3(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd, long long rows,
    int cols, double eps) {
  rmsnorm_w<__nv_bfloat16, 3>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_f32_4(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols, double eps) {
  rmsnorm_w<float, 4>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_bf16_4(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd, long long rows,
    int cols, double eps) {
  rmsnorm_w<__nv_bfloat16, 4>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_f32_5(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols, double eps) {
  rmsnorm_w<float, 5>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_bf16_5(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd, long long rows,
    int cols, double eps) {
  rmsnorm_w<__nv_bfloat16, 5>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_f32_6(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols, double eps) {
  rmsnorm_w<float, 6>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_bf16_6(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd, long long rows,
    int cols, double eps) {
  rmsnorm_w<__nv_bfloat16, 6>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_f32_7(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols, double eps) {
  rmsnorm_w<float, 7>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_bf16_7(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd, long long rows,
    int cols, double eps) {
  rmsnorm_w<__nv_bfloat16, 7>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_f32_8(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols, double eps) {
  rmsnorm_w<float, 8>(x, gain, y, rstd, rows, cols, eps);
}
extern "C" __global__ void nn_rmsnorm_w_bf16_8(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd, long long rows,
    int cols, double eps) {
  rmsnorm_w<__nv_bfloat16, 8>(x, gain, y, rstd, rows, cols, eps);
}
// nn_add_rmsnorm_w_<dtype>_<vectors per lane>: the residual sum x + add written to sum, then the norm of it
extern "C" __global__ void nn_add_rmsnorm_w_f32_1(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols,
    double eps, const float* add, float* sum) {
  rmsnorm_w<float, 1>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_bf16_1(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd,
    long long rows, int cols, double eps, const __nv_bfloat16* add, __nv_bfloat16* sum) {
  rmsnorm_w<__nv_bfloat16, 1>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_f32_2(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols,
    double eps, const float* add, float* sum) {
  rmsnorm_w<float, 2>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_bf16_2(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd,
    long long rows, int cols, double eps, const __nv_bfloat16* add, __nv_bfloat16* sum) {
  rmsnorm_w<__nv_bfloat16, 2>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_f32_3(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols,
    double eps, const float* add, float* sum) {
  rmsnorm_w<float, 3>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_bf16_3(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd,
    long long rows, int cols, double eps, const __nv_bfloat16* add, __nv_bfloat16* sum) {
  rmsnorm_w<__nv_bfloat16, 3>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_f32_4(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols,
    double eps, const float* add, float* sum) {
  rmsnorm_w<float, 4>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_bf16_4(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd,
    long long rows, int cols, double eps, const __nv_bfloat16* add, __nv_bfloat16* sum) {
  rmsnorm_w<__nv_bfloat16, 4>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_f32_5(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols,
    double eps, const float* add, float* sum) {
  rmsnorm_w<float, 5>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_bf16_5(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd,
    long long rows, int cols, double eps, const __nv_bfloat16* add, __nv_bfloat16* sum) {
  rmsnorm_w<__nv_bfloat16, 5>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_f32_6(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols,
    double eps, const float* add, float* sum) {
  rmsnorm_w<float, 6>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_bf16_6(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd,
    long long rows, int cols, double eps, const __nv_bfloat16* add, __nv_bfloat16* sum) {
  rmsnorm_w<__nv_bfloat16, 6>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_f32_7(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols,
    double eps, const float* add, float* sum) {
  rmsnorm_w<float, 7>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_bf16_7(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd,
    long long rows, int cols, double eps, const __nv_bfloat16* add, __nv_bfloat16* sum) {
  rmsnorm_w<__nv_bfloat16, 7>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_f32_8(const float* x, const float* gain, float* y, float* rstd, long long rows, int cols,
    double eps, const float* add, float* sum) {
  rmsnorm_w<float, 8>(x, gain, y, rstd, rows, cols, eps, add, sum);
}
extern "C" __global__ void nn_add_rmsnorm_w_bf16_8(const __nv_bfloat16* x, const __nv_bfloat16* gain, __nv_bfloat16* y, float* rstd,
    long long rows, int cols, double eps, const __nv_bfloat16* add, __nv_bfloat16* sum) {
  rmsnorm_w<__nv_bfloat16, 8>(x, gain, y, rstd, rows, cols, eps, add, sum);
}

// dx = inv·(dy⊙g − x̂·mean(dy⊙g⊙x̂)) (+ res), one warp a row, x and dy read once.
template <typename T, int NV>
static __device__ void rmsnorm_bwd_w(const T* x, const T* gain, const float* rstd, const T* dy, const T* res, T* dx, i64 rows, int cols) {
  constexpr int N = Vec16<T>::N;
  const int lane = threadIdx.x & 31;
  const i64 warps = (i64)gridDim.x * (blockDim.x >> 5);
  for (i64 r = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows; r += warps) {
    const i64 base = r * cols;
    float inv = rstd[r];
    float xv[NV][N], gy[NV][N];
    float dot = 0;
#pragma unroll
    for (int i = 0; i < NV; i++) {
      const int c = (i * 32 + lane) * N;
      float gv[N];
      Vec16<T>::ld(x + base + c, xv[i]);
      Vec16<T>::ld(dy + base + c, gy[i]);
      if (gain) {
        Vec16<T>::ld(gain + c, gv);
#pragma unroll
        for (int k = 0; k < N; k++) gy[i][k] *= gv[k];
      }
#pragma unroll
      for (int k = 0; k < N; k++) dot += gy[i][k] * xv[i][k];
    }
    float mean = (float)(warp_sum_d((double)dot) * inv / cols);
#pragma unroll
    for (int i = 0; i < NV; i++) {
      const int c = (i * 32 + lane) * N;
      float o[N], rv[N];
      if (res) Vec16<T>::ld(res + base + c, rv);
#pragma unroll
      for (int k = 0; k < N; k++) o[k] = inv * (gy[i][k] - xv[i][k] * inv * mean) + (res ? rv[k] : 0.0f);
      Vec16<T>::st(dx + base + c, o);
    }
  }
}
extern "C" __global__ void nn_rmsnorm_bwd_w_f32_1(const float* x, const float* gain, const float* rstd, const float* dy, const float* res,
    float* dx, long long rows, int cols) {
  rmsnorm_bwd_w<float, 1>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_bf16_1(const __nv_bfloat16* x, const __nv_bfloat16* gain, const float* rstd,
    const __nv_bfloat16* dy, const __nv_bfloat16* res, __nv_bfloat16* dx, long long rows, int cols) {
  rmsnorm_bwd_w<__nv_bfloat16, 1>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_f32_2(const float* x, const float* gain, const float* rstd, const float* dy, const float* res,
    float* dx, long long rows, int cols) {
  rmsnorm_bwd_w<float, 2>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_bf16_2(const __nv_bfloat16* x, const __nv_bfloat16* gain, const float* rstd,
    const __nv_bfloat16* dy, const __nv_bfloat16* res, __nv_bfloat16* dx, long long rows, int cols) {
  rmsnorm_bwd_w<__nv_bfloat16, 2>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_f32_3(const float* x, const float* gain, const float* rstd, const float* dy, const float* res,
    float* dx, long long rows, int cols) {
  rmsnorm_bwd_w<float, 3>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_bf16_3(const __nv_bfloat16* x, const __nv_bfloat16* gain, const float* rstd,
    const __nv_bfloat16* dy, const __nv_bfloat16* res, __nv_bfloat16* dx, long long rows, int cols) {
  rmsnorm_bwd_w<__nv_bfloat16, 3>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_f32_4(const float* x, const float* gain, const float* rstd, const float* dy, const float* res,
    float* dx, long long rows, int cols) {
  rmsnorm_bwd_w<float, 4>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_bf16_4(const __nv_bfloat16* x, const __nv_bfloat16* gain, const float* rstd,
    const __nv_bfloat16* dy, const __nv_bfloat16* res, __nv_bfloat16* dx, long long rows, int cols) {
  rmsnorm_bwd_w<__nv_bfloat16, 4>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_f32_5(const float* x, const float* gain, const float* rstd, const float* dy, const float* res,
    float* dx, long long rows, int cols) {
  rmsnorm_bwd_w<float, 5>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_bf16_5(const __nv_bfloat16* x, const __nv_bfloat16* gain, const float* rstd,
    const __nv_bfloat16* dy, const __nv_bfloat16* res, __nv_bfloat16* dx, long long rows, int cols) {
  rmsnorm_bwd_w<__nv_bfloat16, 5>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_f32_6(const float* x, const float* gain, const float* rstd, const float* dy, const float* res,
    float* dx, long long rows, int cols) {
  rmsnorm_bwd_w<float, 6>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_bf16_6(const __nv_bfloat16* x, const __nv_bfloat16* gain, const float* rstd,
    const __nv_bfloat16* dy, const __nv_bfloat16* res, __nv_bfloat16* dx, long long rows, int cols) {
  rmsnorm_bwd_w<__nv_bfloat16, 6>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_f32_7(const float* x, const float* gain, const float* rstd, const float* dy, const float* res,
    float* dx, long long rows, int cols) {
  rmsnorm_bwd_w<float, 7>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_bf16_7(const __nv_bfloat16* x, const __nv_bfloat16* gain, const float* rstd,
    const __nv_bfloat16* dy, const __nv_bfloat16* res, __nv_bfloat16* dx, long long rows, int cols) {
  rmsnorm_bwd_w<__nv_bfloat16, 7>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_f32_8(const float* x, const float* gain, const float* rstd, const float* dy, const float* res,
    float* dx, long long rows, int cols) {
  rmsnorm_bwd_w<float, 8>(x, gain, rstd, dy, res, dx, rows, cols);
}
extern "C" __global__ void nn_rmsnorm_bwd_w_bf16_8(const __nv_bfloat16* x, const __nv_bfloat16* gain, const float* rstd,
    const __nv_bfloat16* dy, const __nv_bfloat16* res, __nv_bfloat16* dx, long long rows, int cols) {
  rmsnorm_bwd_w<__nv_bfloat16, 8>(x, gain, rstd, dy, res, dx, rows, cols);
}

// ------------------------------------------------------------------------------------------ SwiGLU
// y = silu(g)·u in one pass (the gated feed-forward's activation: one read of each input, one write), and its
// backward dg = dy·u·σ(g)·(1 + g·(1 − σ(g))), du = dy·silu(g). Contiguous operands, each with its own dtype code.

template <typename C>
static __device__ void silu_mul_body(const void* g, int gt, const void* u, int ut, void* y, int yt, i64 n) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    C a = ld_c<C>(g, gt, i);
    C s = a / ((C)1 + exp(-a));
    st_c<C>(y, yt, i, s * ld_c<C>(u, ut, i));
  }
}
extern "C" __global__ void nn_silu_mul_f(const void* g, int gt, const void* u, int ut, void* y, int yt, long long n) {
  silu_mul_body<float>(g, gt, u, ut, y, yt, n);
}
extern "C" __global__ void nn_silu_mul_d(const void* g, int gt, const void* u, int ut, void* y, int yt, long long n) {
  silu_mul_body<double>(g, gt, u, ut, y, yt, n);
}

template <typename C>
static __device__ void silu_mul_bwd_body(const void* g, int gt, const void* u, int ut, const void* dy, int dyt, void* dg, int dgt, void* du,
                                         int dut, i64 n) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    C a = ld_c<C>(g, gt, i);
    C d = ld_c<C>(dy, dyt, i);
    C sig = (C)1 / ((C)1 + exp(-a));
    st_c<C>(dg, dgt, i, d * ld_c<C>(u, ut, i) * sig * ((C)1 + a * ((C)1 - sig)));
    st_c<C>(du, dut, i, d * a * sig);
  }
}
extern "C" __global__ void nn_silu_mul_bwd_f(const void* g, int gt, const void* u, int ut, const void* dy, int dyt, void* dg, int dgt, void* du,
                                             int dut, long long n) {
  silu_mul_bwd_body<float>(g, gt, u, ut, dy, dyt, dg, dgt, du, dut, n);
}
extern "C" __global__ void nn_silu_mul_bwd_d(const void* g, int gt, const void* u, int ut, const void* dy, int dyt, void* dg, int dgt, void* du,
                                             int dut, long long n) {
  silu_mul_bwd_body<double>(g, gt, u, ut, dy, dyt, dg, dgt, du, dut, n);
}

// ------------------------------------------------------------------ log decay of a forget gate (GLA)
// From a gate's pre-activation f [rows, d] (contiguous, any floating dtype) and an optional lower bound beta [d] in
// [0, 1): L = logaddexp(log beta, log1p(-beta) + log sigmoid(f)) (log sigmoid(f) without beta), the log decay
// g = L / tau (written as gt: f32, or f64 for f64 f) and the key k = 1 - e^g = -expm1(g) (written as kt, f's dtype).
// C is float (double for f64). Every exponent is of a non-positive number.
template <typename C>
static __device__ __forceinline__ C log_sig(C x) { return -((x < (C)0 ? -x : (C)0) + log1p(exp(-fabs(x)))); }

template <typename C>
static __device__ __forceinline__ C gate_log(C x, const void* beta, int bt, i64 c, C* wc, C* eb) {
  C ls = log_sig(x);
  if (!beta) return ls;
  C b = ld_c<C>(beta, bt, c);
  C a = log(b), cc = log1p(-b) + ls;
  C l = fmax(a, cc) + log1p(exp(-fabs(a - cc)));
  if (wc) *wc = exp(cc - l);  // (1 - beta) sigmoid(f) / (beta + (1 - beta) sigmoid(f))
  if (eb) *eb = exp(-l);      // 1 / (beta + (1 - beta) sigmoid(f))
  return l;
}

template <typename C>
static __device__ void log_decay_body(const void* f, int ft, const void* beta, int bt, C invTau, void* g, int gt, void* k, int kt, i64 n, int d) {
  for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    C l = gate_log<C>(ld_c<C>(f, ft, i), beta, bt, i % d, nullptr, nullptr) * invTau;
    st_c<C>(g, gt, i, l);
    st_c<C>(k, kt, i, -expm1(l));
  }
}
extern "C" __global__ void nn_log_decay_f(const void* f, int ft, const void* beta, int bt, double invTau, void* g, int gt, void* k, int kt,
                                          long long n, int d) {
  log_decay_body<float>(f, ft, beta, bt, (float)invTau, g, gt, k, kt, n, d);
}
extern "C" __global__ void nn_log_decay_d(const void* f, int ft, const void* beta, int bt, double invTau, void* g, int gt, void* k, int kt,
                                          long long n, int d) {
  log_decay_body<double>(f, ft, beta, bt, invTau, g, gt, k, kt, n, d);
}

// Backward: u = (dg - e^g dk) / tau (either gradient may be null), df = u (1 - sigmoid(f)) [e^(log1p(-beta) + log sigmoid(f)
// - L) with beta], and with beta the column partials part[s][c] = sum over split s's rows of u (1 - sigmoid(f)) e^-L
// (dbeta, summed by nn_sum_splits). One thread per column and split, as nn_norm_param_partial.
template <typename C>
static __device__ void log_decay_bwd_body(const void* f, int ft, const void* beta, int bt, C invTau, const void* dg, int dgt, const void* dk,
                                          int dkt, void* df, int dft, i64 rows, int d, int splits, double* part) {
  int s = blockIdx.y;
  i64 chunk = (rows + splits - 1) / splits;
  i64 r0 = s * chunk, r1 = min(rows, r0 + chunk);
  for (i64 c = blockIdx.x * (i64)blockDim.x + threadIdx.x; c < d; c += (i64)gridDim.x * blockDim.x) {
    double acc = 0;
    for (i64 r = r0; r < r1; r++) {
      i64 i = r * d + c;
      C x = ld_c<C>(f, ft, i);
      C wc = 1, eb = 0;
      C l = gate_log<C>(x, beta, bt, c, &wc, &eb) * invTau;
      C u = dg ? ld_c<C>(dg, dgt, i) : (C)0;
      if (dk) u -= exp(l) * ld_c<C>(dk, dkt, i);
      u *= invTau;
      C sn = exp(log_sig(-x));  // 1 - sigmoid(f)
      st_c<C>(df, dft, i, u * wc * sn);
      if (beta) acc += (double)(u * sn * eb);
    }
    if (part) part[(i64)s * d + c] = acc;
  }
}
extern "C" __global__ void nn_log_decay_bwd_f(const void* f, int ft, const void* beta, int bt, double invTau, const void* dg, int dgt,
                                              const void* dk, int dkt, void* df, int dft, long long rows, int d, int splits, double* part) {
  log_decay_bwd_body<float>(f, ft, beta, bt, (float)invTau, dg, dgt, dk, dkt, df, dft, rows, d, splits, part);
}
extern "C" __global__ void nn_log_decay_bwd_d(const void* f, int ft, const void* beta, int bt, double invTau, const void* dg, int dgt,
                                              const void* dk, int dkt, void* df, int dft, long long rows, int d, int splits, double* part) {
  log_decay_bwd_body<double>(f, ft, beta, bt, invTau, dg, dgt, dk, dkt, df, dft, rows, d, splits, part);
}

// ------------------------------------------------------------------ weight-only int8 products
// y[m, n] = scale[n] * sum_k x[m, k] * q[n, k]: x f32 [M, K], q int8 [N, K] (one row per output channel), scale f32 [N],
// y f32 [M, N], all contiguous. Weights are widened to f32 in registers or shared memory a tile at a time; the int8
// matrix is never written back as f32.

#define Q8_ROWS 8

// Few rows (decoding): one warp per output channel streams its int8 row once (4 bytes a lane when K % 4 == 0 and the
// pointers allow 16-byte x loads) for up to Q8_ROWS rows of x at a time; the scale multiplies the warp's sum.
extern "C" __global__ void __launch_bounds__(256) nn_q8_gemv(const float* x, const signed char* q, const float* scale, float* y, int m, int n,
                                                           int k, int vec4) {
  int warp = (int)((blockIdx.x * (i64)blockDim.x + threadIdx.x) >> 5);
  int lane = threadIdx.x & 31;
  if (warp >= n) return;
  const signed char* row = q + (i64)warp * k;
  for (int m0 = 0; m0 < m; m0 += Q8_ROWS) {
    int mr = min(Q8_ROWS, m - m0);
    float acc[Q8_ROWS];
#pragma unroll
    for (int i = 0; i < Q8_ROWS; i++) acc[i] = 0.f;
    if (vec4) {
      const char4* r4 = (const char4*)row;
      int k4 = k >> 2;
      for (int c = lane; c < k4; c += 32) {
        char4 w = r4[c];
        float w0 = (float)w.x, w1 = (float)w.y, w2 = (float)w.z, w3 = (float)w.w;
#pragma unroll
        for (int i = 0; i < Q8_ROWS; i++) {
          if (i < mr) {
            float4 xv = ((const float4*)(x + (i64)(m0 + i) * k))[c];
            acc[i] = fmaf(xv.x, w0, fmaf(xv.y, w1, fmaf(xv.z, w2, fmaf(xv.w, w3, acc[i]))));
          }
        }
      }
    } else {
      for (int c = lane; c < k; c += 32) {
        float w = (float)row[c];
#pragma unroll
        for (int i = 0; i < Q8_ROWS; i++) {
          if (i < mr) acc[i] = fmaf(x[(i64)(m0 + i) * k + c], w, acc[i]);
        }
      }
    }
    float s = scale[warp];
#pragma unroll
    for (int i = 0; i < Q8_ROWS; i++) {
      float v = acc[i];
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
      if (lane == 0 && i < mr) y[(i64)(m0 + i) * n + warp] = v * s;
    }
  }
}

#define Q8_TM 64
#define Q8_TN 64
#define Q8_TK 16

// Many rows (prefill): 64x64 output tiles, 256 threads of 4x4 outputs each; per 16-deep step a tile of x and a tile of
// int8 weights (widened to f32 on the way) go through shared memory.
extern "C" __global__ void __launch_bounds__(256) nn_q8_gemm(const float* x, const signed char* q, const float* scale, float* y, int m, int n,
                                                           int k) {
  __shared__ float xs[Q8_TK][Q8_TM + 4];
  __shared__ float ws[Q8_TK][Q8_TN + 4];
  int tx = threadIdx.x & 15, ty = threadIdx.x >> 4;
  int m0 = blockIdx.y * Q8_TM, n0 = blockIdx.x * Q8_TN;
  float acc[4][4];
#pragma unroll
  for (int i = 0; i < 4; i++)
#pragma unroll
    for (int j = 0; j < 4; j++) acc[i][j] = 0.f;
  for (int k0 = 0; k0 < k; k0 += Q8_TK) {
    for (int e = threadIdx.x; e < Q8_TM * Q8_TK; e += 256) {
      int r = e / Q8_TK, c = e % Q8_TK;
      int gm = m0 + r, gk = k0 + c;
      xs[c][r] = gm < m && gk < k ? x[(i64)gm * k + gk] : 0.f;
    }
    for (int e = threadIdx.x; e < Q8_TN * Q8_TK; e += 256) {
      int r = e / Q8_TK, c = e % Q8_TK;
      int gn = n0 + r, gk = k0 + c;
      ws[c][r] = gn < n && gk < k ? (float)q[(i64)gn * k + gk] : 0.f;
    }
    __syncthreads();
#pragma unroll
    for (int c = 0; c < Q8_TK; c++) {
      float a[4], b[4];
#pragma unroll
      for (int i = 0; i < 4; i++) {
        a[i] = xs[c][ty * 4 + i];
        b[i] = ws[c][tx * 4 + i];
      }
#pragma unroll
      for (int i = 0; i < 4; i++)
#pragma unroll
        for (int j = 0; j < 4; j++) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; i++) {
    int gm = m0 + ty * 4 + i;
    if (gm >= m) continue;
#pragma unroll
    for (int j = 0; j < 4; j++) {
      int gn = n0 + tx * 4 + j;
      if (gn < n) y[(i64)gm * n + gn] = acc[i][j] * scale[gn];
    }
  }
}

// nn_rmsnorm_gated and its backward for bf16 x, z, y (dy, dx, dz) with f32 math per element and f64 row sums, four
// columns per load: cols % 4 == 0, rows and the row strides zs, dzs 8-byte aligned. gain any dtype or null.
static __device__ __forceinline__ float gate_f(float z, int act, float* dact) {
  if (act == 0) { *dact = 1.f; return z; }
  float s = z >= 0.f ? 1.f / (1.f + expf(-z)) : expf(z) / (1.f + expf(z));
  if (act == 1) { *dact = s * (1.f + z * (1.f - s)); return z * s; }
  *dact = s * (1.f - s);
  return s;
}
extern "C" __global__ void nn_rmsnorm_gated_v_bf16(const __nv_bfloat16* x, const void* gain, int gnt, const __nv_bfloat16* z,
    long long zs, int act, __nv_bfloat16* y, float* rstd, long long rows, int cols, double eps) {
  __shared__ double sc[32];
  const int c4 = cols >> 2;
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    const i64 base = r * cols;
    float ss = 0;
    for (int j = threadIdx.x; j < c4; j += blockDim.x) {
      float v[4];
      v4ld(x, base + 4 * j, v);
      ss += v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3];
    }
    const double tot = block_sum<double>((double)ss, sc);
    const float inv = (float)(1.0 / sqrt(tot / cols + eps));
    if (threadIdx.x == 0) rstd[r] = inv;
    for (int j = threadIdx.x; j < c4; j += blockDim.x) {
      float v[4], zv[4];
      v4ld(x, base + 4 * j, v);
      v4ld(z, r * zs + 4 * j, zv);
#pragma unroll
      for (int k = 0; k < 4; k++) {
        float da, w = gain ? (float)ld_d(gain, gnt, 4 * j + k) : 1.f;
        v[k] = v[k] * inv * w * gate_f(zv[k], act, &da);
      }
      v4st(y, base + 4 * j, v);
    }
  }
}
extern "C" __global__ void nn_rmsnorm_gated_bwd_v_bf16(const __nv_bfloat16* x, const void* gain, int gnt, const __nv_bfloat16* z,
    long long zs, int act, const float* rstd, const __nv_bfloat16* dy, __nv_bfloat16* dx, __nv_bfloat16* dz, long long dzs,
    long long rows, int cols) {
  __shared__ double sc[32];
  const int c4 = cols >> 2;
  for (i64 r = blockIdx.x; r < rows; r += gridDim.x) {
    const i64 base = r * cols;
    const float inv = rstd[r];
    float dot = 0;
    for (int j = threadIdx.x; j < c4; j += blockDim.x) {
      float v[4], zv[4], g[4];
      v4ld(x, base + 4 * j, v);
      v4ld(z, r * zs + 4 * j, zv);
      v4ld(dy, base + 4 * j, g);
#pragma unroll
      for (int k = 0; k < 4; k++) {
        float da, w = gain ? (float)ld_d(gain, gnt, 4 * j + k) : 1.f;
        dot += g[k] * gate_f(zv[k], act, &da) * w * v[k] * inv;
      }
    }
    const float mean = (float)(block_sum<double>((double)dot, sc) / cols);
    for (int j = threadIdx.x; j < c4; j += blockDim.x) {
      float v[4], zv[4], g[4], ox[4], oz[4];
      v4ld(x, base + 4 * j, v);
      v4ld(z, r * zs + 4 * j, zv);
      v4ld(dy, base + 4 * j, g);
#pragma unroll
      for (int k = 0; k < 4; k++) {
        float da, w = gain ? (float)ld_d(gain, gnt, 4 * j + k) : 1.f;
        float a = gate_f(zv[k], act, &da), xh = v[k] * inv;
        ox[k] = inv * (g[k] * a * w - xh * mean);
        oz[k] = g[k] * xh * w * da;
      }
      v4st(dx, base + 4 * j, ox);
      v4st(dz, r * dzs + 4 * j, oz);
    }
  }
}
