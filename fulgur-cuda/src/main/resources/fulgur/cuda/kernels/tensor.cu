// The CUDA backend's general tensor kernels (fulgur.cuda.CudaBackend): strided copies with dtype conversion,
// fills, elementwise unary/binary ops with broadcasting, where, reductions over any axes, arg-reductions,
// cumulative sums, gather/scatter and index select/add, dropout masks and normal fills (the counter-based stream
// of fulgur.tensor.Rng) and the fused AdamW update.
//
// Math follows fulgur.backend.cpu.CpuBackend: f32/bf16/f16 compute in f32, f64 and integers in f64;
// results are stored in the dtype the Java side asks for. Every strided kernel takes a ShapeDesc
// (dims already merged on the Java side) and element strides relative to each operand's base pointer.
#include "tensor_common.cuh"

// ------------------------------------------------------------------------------------------ copy / fill

// dst[o0] = src[o1] over the iteration space of d (operand 0 = dst, 1 = src), converting dtypes.
extern "C" __global__ void t_copy(const __grid_constant__ ShapeDesc d, const void* src, int st, void* dst, int dt, long long n) {
  bool ints = st >= DT_I32 && dt >= DT_I32;
  bool small = n <= 0x7fffffffLL;
  GRID_STRIDE(i, n) {
    i64 off[2];
    if (small) offsets<2, true>(d, i, off); else offsets<2, false>(d, i, off);
    if (ints) st_l(dst, dt, off[0], ld_l(src, st, off[1]));
    else st_d(dst, dt, off[0], ld_d(src, st, off[1]));
  }
}

// contiguous 16-byte chunks (same dtype, both aligned)
extern "C" __global__ void t_copy16(const uint4* src, uint4* dst, long long n16) {
  GRID_STRIDE(i, n16) dst[i] = src[i];
}

// rows of 16-byte chunks between two same-dtype matrices whose rows are contiguous but lie apart (a column slice of a
// wider matrix, as the slices of a fused projection's gradient): perRow chunks per row, row strides in bytes; both
// operands and strides 16-byte aligned. The element-wise path decodes every element's offset and converts it.
extern "C" __global__ void t_copy_rows16(const char* src, long long srcRow, char* dst, long long dstRow, long long perRow,
    long long n16) {
  GRID_STRIDE(i, n16) {
    long long r = i / perRow, c = i - r * perRow;
    *reinterpret_cast<uint4*>(dst + r * dstRow + c * 16) = *reinterpret_cast<const uint4*>(src + r * srcRow + c * 16);
  }
}

extern "C" __global__ void t_fill(const __grid_constant__ ShapeDesc d, void* dst, int dt, double v, long long n) {
  bool small = n <= 0x7fffffffLL;
  GRID_STRIDE(i, n) {
    i64 off[1];
    if (small) offsets<1, true>(d, i, off); else offsets<1, false>(d, i, off);
    st_d(dst, dt, off[0], v);
  }
}

// ------------------------------------------------------------------------------------------ unary

// UnaryOp ordinals
#define U_NEG 0
#define U_EXP 1
#define U_LOG 2
#define U_SQRT 3
#define U_RSQRT 4
#define U_ABS 5
#define U_SILU 6
#define U_SIGMOID 7
#define U_TANH 8
#define U_GELU 9
#define U_GELU_TANH 10
#define U_RELU 11
#define U_SOFTPLUS 12
#define U_LOGSIGMOID 13
#define U_SQUARE 14
#define U_RECIPROCAL 15
#define U_SIN 16
#define U_COS 17
#define U_POW 18
#define U_ADD_SCALAR 19
#define U_MUL_SCALAR 20

template <typename C> static __device__ __forceinline__ C sigm(C x) {
  if (x >= 0) return C(1) / (C(1) + exp(-x));
  C e = exp(x);
  return e / (C(1) + e);
}
template <typename C> static __device__ __forceinline__ C softplus_(C x) { return (x > 0 ? x : C(0)) + log1p(exp(-fabs(x))); }

template <typename C> static __device__ __forceinline__ C unary_op(int op, C x, C p) {
  const C SQRT_2_OVER_PI = C(0.79788456080286535588);
  switch (op) {
    case U_NEG: return -x;
    case U_EXP: return exp(x);
    case U_LOG: return log(x);
    case U_SQRT: return sqrt(x);
    case U_RSQRT: return C(1) / sqrt(x);
    case U_ABS: return fabs(x);
    case U_SILU: return x * sigm(x);
    case U_SIGMOID: return sigm(x);
    case U_TANH: return tanh(x);
    case U_GELU: return C(0.5) * x * (C(1) + erf(x * C(0.70710678118654752440)));
    case U_GELU_TANH: return C(0.5) * x * (C(1) + tanh(SQRT_2_OVER_PI * (x + C(0.044715) * x * x * x)));
    case U_RELU: return (x != x) ? x : (x > 0 ? x : C(0));
    case U_SOFTPLUS: return softplus_(x);
    case U_LOGSIGMOID: return -softplus_(-x);
    case U_SQUARE: return x * x;
    case U_RECIPROCAL: return C(1) / x;
    case U_SIN: return sin(x);
    case U_COS: return cos(x);
    case U_POW: return pow(x, p);
    case U_ADD_SCALAR: return x + p;
    default: return x * p;  // U_MUL_SCALAR
  }
}

// dy/dx (y = f(x) given where the CPU backend uses it).
template <typename C> static __device__ __forceinline__ C unary_deriv(int op, C x, C y, C p) {
  const C SQRT_2_OVER_PI = C(0.79788456080286535588);
  const C INV_SQRT_2PI = C(0.39894228040143267794);
  switch (op) {
    case U_NEG: return C(-1);
    case U_EXP: return y;
    case U_LOG: return C(1) / x;
    case U_SQRT: return C(0.5) / y;
    case U_RSQRT: return C(-0.5) * y * y * y;
    case U_ABS: return x > 0 ? C(1) : (x < 0 ? C(-1) : C(0));
    case U_SILU: { C s = sigm(x); return s * (C(1) + x * (C(1) - s)); }
    case U_SIGMOID: return y * (C(1) - y);
    case U_TANH: return C(1) - y * y;
    case U_GELU: return C(0.5) * (C(1) + erf(x * C(0.70710678118654752440))) + x * INV_SQRT_2PI * exp(C(-0.5) * x * x);
    case U_GELU_TANH: {
      C u = SQRT_2_OVER_PI * (x + C(0.044715) * x * x * x);
      C t = tanh(u);
      return C(0.5) * (C(1) + t) + C(0.5) * x * (C(1) - t * t) * SQRT_2_OVER_PI * (C(1) + C(3) * C(0.044715) * x * x);
    }
    case U_RELU: return x > 0 ? C(1) : C(0);
    case U_SOFTPLUS: return sigm(x);
    case U_LOGSIGMOID: return sigm(-x);
    case U_SQUARE: return C(2) * x;
    case U_RECIPROCAL: return -y * y;
    case U_SIN: return cos(x);
    case U_COS: return -sin(x);
    case U_POW: return p == 0 ? C(0) : p * pow(x, p - C(1));
    case U_ADD_SCALAR: return C(1);
    default: return p;  // U_MUL_SCALAR
  }
}

// The CPU backend's vectorised f32 backward recomputes y from x for these ops.
static __device__ __forceinline__ bool recompute_y(int op) {
  return op == U_SILU || op == U_SIGMOID || op == U_EXP || op == U_TANH || op == U_RELU || op == U_MUL_SCALAR
      || op == U_ADD_SCALAR || op == U_NEG || op == U_SQUARE;
}

// out[i] = f(x[o0]) (operand 0 = x; out contiguous)
template <typename C>
static __device__ __forceinline__ void unary_body(const ShapeDesc& d, int op, const void* x, int xt, void* out, int ot, C p, i64 n) {
  bool small = n <= 0x7fffffffLL;
  GRID_STRIDE(i, n) {
    i64 off[1];
    if (small) offsets<1, true>(d, i, off); else offsets<1, false>(d, i, off);
    st_c<C>(out, ot, i, unary_op<C>(op, ld_c<C>(x, xt, off[0]), p));
  }
}
extern "C" __global__ void t_unary_f(const __grid_constant__ ShapeDesc d, int op, const void* x, int xt, void* out, int ot, float p, long long n) {
  unary_body<float>(d, op, x, xt, out, ot, p, n);
}
extern "C" __global__ void t_unary_d(const __grid_constant__ ShapeDesc d, int op, const void* x, int xt, void* out, int ot, double p, long long n) {
  unary_body<double>(d, op, x, xt, out, ot, p, n);
}

// dx[i] = dy[o2] * f'(x[o0]) with y = y[o1] when given (operands 0 = x, 1 = y, 2 = dy; dx contiguous)
template <typename C>
static __device__ __forceinline__ void unary_bwd_body(const ShapeDesc& d, int op, const void* x, int xt, const void* y, int yt,
    const void* dy, int dyt, void* out, int ot, C p, i64 n, bool vecF32) {
  bool small = n <= 0x7fffffffLL;
  bool useY = y != nullptr && !(vecF32 && recompute_y(op));
  GRID_STRIDE(i, n) {
    i64 off[3];
    if (small) offsets<3, true>(d, i, off); else offsets<3, false>(d, i, off);
    C xv = ld_c<C>(x, xt, off[0]);
    C yv = useY ? ld_c<C>(y, yt, off[1]) : unary_op<C>(op, xv, p);
    C g = ld_c<C>(dy, dyt, off[2]);
    C r;
    if (vecF32 && op == U_RELU) r = xv > 0 ? g : C(0);
    else if (vecF32 && op == U_ADD_SCALAR) r = g;
    else if (vecF32 && op == U_NEG) r = -g;
    else r = g * unary_deriv<C>(op, xv, yv, p);
    st_c<C>(out, ot, i, r);
  }
}
extern "C" __global__ void t_unary_bwd_f(const __grid_constant__ ShapeDesc d, int op, const void* x, int xt, const void* y, int yt,
    const void* dy, int dyt, void* out, int ot, float p, long long n) {
  unary_bwd_body<float>(d, op, x, xt, y, yt, dy, dyt, out, ot, p, n, true);
}
extern "C" __global__ void t_unary_bwd_d(const __grid_constant__ ShapeDesc d, int op, const void* x, int xt, const void* y, int yt,
    const void* dy, int dyt, void* out, int ot, double p, long long n) {
  unary_bwd_body<double>(d, op, x, xt, y, yt, dy, dyt, out, ot, p, n, false);
}

// ------------------------------------------------------------------------------------------ binary

#define B_ADD 0
#define B_SUB 1
#define B_MUL 2
#define B_DIV 3
#define B_POW 4
#define B_MAXIMUM 5
#define B_MINIMUM 6
#define B_EQ 7
#define B_NE 8
#define B_LT 9
#define B_LE 10
#define B_GT 11
#define B_GE 12

template <typename C> static __device__ __forceinline__ C binary_op(int op, C a, C b) {
  switch (op) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return pow(a, b);
    case B_MAXIMUM: return nmax(a, b);
    case B_MINIMUM: return nmin(a, b);
    case B_EQ: return a == b ? C(1) : C(0);
    case B_NE: return a != b ? C(1) : C(0);
    case B_LT: return a < b ? C(1) : C(0);
    case B_LE: return a <= b ? C(1) : C(0);
    case B_GT: return a > b ? C(1) : C(0);
    default: return a >= b ? C(1) : C(0);
  }
}

// out[i] = a[o0] op b[o1] (broadcast strides are 0; out contiguous)
template <typename C>
static __device__ __forceinline__ void binary_body(const ShapeDesc& d, int op, const void* a, int at, const void* b, int bt, void* out, int ot, i64 n) {
  bool small = n <= 0x7fffffffLL;
  if (d.nd == 1 && d.stride[0][0] == 1 && d.stride[1][0] == 1 && at == ot && bt == ot && ot == DT_F32) {
    const float* A = (const float*)a; const float* B = (const float*)b; float* O = (float*)out;
    GRID_STRIDE(i, n) O[i] = (float)binary_op<C>(op, (C)A[i], (C)B[i]);
    return;
  }
  GRID_STRIDE(i, n) {
    i64 off[2];
    if (small) offsets<2, true>(d, i, off); else offsets<2, false>(d, i, off);
    st_c<C>(out, ot, i, binary_op<C>(op, ld_c<C>(a, at, off[0]), ld_c<C>(b, bt, off[1])));
  }
}
extern "C" __global__ void t_binary_f(const __grid_constant__ ShapeDesc d, int op, const void* a, int at, const void* b, int bt, void* out, int ot, long long n) {
  binary_body<float>(d, op, a, at, b, bt, out, ot, n);
}
extern "C" __global__ void t_binary_d(const __grid_constant__ ShapeDesc d, int op, const void* a, int at, const void* b, int bt, void* out, int ot, long long n) {
  binary_body<double>(d, op, a, at, b, bt, out, ot, n);
}

// out[i] = cond[o0] != 0 ? a[o1] : b[o2]
extern "C" __global__ void t_where(const __grid_constant__ ShapeDesc d, const void* c, int ct, const void* a, int at, const void* b, int bt,
    void* out, int ot, long long n) {
  bool small = n <= 0x7fffffffLL;
  GRID_STRIDE(i, n) {
    i64 off[3];
    if (small) offsets<3, true>(d, i, off); else offsets<3, false>(d, i, off);
    bool pick = ld_d(c, ct, off[0]) != 0;
    st_d(out, ot, i, pick ? ld_d(a, at, off[1]) : ld_d(b, bt, off[2]));
  }
}

// ------------------------------------------------------------------------------------------ reductions
// The iteration space is [outer..., reduced...] (reduced axes last): element (r, j) is flat r*len + j.
// Stage 1 writes one partial (a, b) per (row, split); stage 2 combines the splits of each row.
// SUM/MEAN: a = sum. MAX/MIN: a = extremum. LOGSUMEXP: (a, b) = (max m, sum of exp(x - m)); m = NaN flags NaN.

#define R_SUM 0
#define R_MEAN 1
#define R_MAX 2
#define R_MIN 3
#define R_LSE 4

struct Part { double a, b; };

static __device__ __forceinline__ Part part_init(int op) {
  Part p;
  if (op == R_MAX) p.a = -D_INF;
  else if (op == R_MIN) p.a = D_INF;
  else if (op == R_LSE) p.a = -D_INF;
  else p.a = 0;
  p.b = 0;
  return p;
}

static __device__ __forceinline__ Part part_add(int op, Part p, double x) {
  if (op == R_SUM || op == R_MEAN) p.a += x;
  else if (op == R_MAX) p.a = nmax(p.a, x);
  else if (op == R_MIN) p.a = nmin(p.a, x);
  else {
    if (p.a != p.a) return p;
    if (x != x) { p.a = x; return p; }
    if (x == -D_INF) return p;
    if (x > p.a) {
      p.b = (p.a == -D_INF) ? 1.0 : p.b * exp(p.a - x) + 1.0;
      if (x == D_INF) p.b = 1.0;
      p.a = x;
    } else if (p.a != D_INF) {
      p.b += exp(x - p.a);
    }
  }
  return p;
}

static __device__ __forceinline__ Part part_merge(int op, Part p, Part q) {
  if (op == R_SUM || op == R_MEAN) { p.a += q.a; return p; }
  if (op == R_MAX) { p.a = nmax(p.a, q.a); return p; }
  if (op == R_MIN) { p.a = nmin(p.a, q.a); return p; }
  if (p.a != p.a || q.a != q.a) { p.a = p.a + q.a; return p; }
  if (q.a == -D_INF) return p;
  if (p.a == -D_INF) return q;
  double m = p.a > q.a ? p.a : q.a;
  Part r;
  r.a = m;
  r.b = (m == D_INF) ? 1.0 : p.b * exp(p.a - m) + q.b * exp(q.a - m);
  return r;
}

static __device__ __forceinline__ double part_final(int op, Part p, i64 len) {
  if (op == R_MEAN) return p.a / (double)len;
  if (op == R_LSE) {
    if (p.a != p.a) return p.a;
    if (p.a == D_INF || p.a == -D_INF) return p.a;
    return p.a + log(p.b);
  }
  return p.a;
}

// One block per (row, split): threads stride over the split's part of the row (contiguous rows coalesce).
extern "C" __global__ void t_reduce_rows(const __grid_constant__ ShapeDesc d, int op, const void* x, int xt, long long rows, long long len,
    int splits, double* part) {
  __shared__ double sa[32], sb[32];
  bool small = rows * len <= 0x7fffffffLL;
  i64 chunk = (len + splits - 1) / splits;
  for (i64 task = blockIdx.x; task < rows * splits; task += gridDim.x) {
    i64 r = task / splits;
    int s = (int)(task - r * splits);
    i64 j0 = s * chunk, j1 = min(len, j0 + chunk);
    Part p = part_init(op);
    for (i64 j = j0 + threadIdx.x; j < j1; j += blockDim.x) {
      i64 off[1];
      if (small) offsets<1, true>(d, r * len + j, off); else offsets<1, false>(d, r * len + j, off);
      p = part_add(op, p, ld_d(x, xt, off[0]));
    }
    // warp combine
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      Part q;
      q.a = __shfl_xor_sync(0xffffffffu, p.a, o);
      q.b = __shfl_xor_sync(0xffffffffu, p.b, o);
      p = part_merge(op, p, q);
    }
    int lane = threadIdx.x & 31, w = threadIdx.x >> 5, nw = blockDim.x >> 5;
    __syncthreads();
    if (lane == 0) { sa[w] = p.a; sb[w] = p.b; }
    __syncthreads();
    if (threadIdx.x == 0) {
      Part acc; acc.a = sa[0]; acc.b = sb[0];
      for (int i = 1; i < nw; i++) { Part q; q.a = sa[i]; q.b = sb[i]; acc = part_merge(op, acc, q); }
      part[2 * task] = acc.a;
      part[2 * task + 1] = acc.b;
    }
  }
}

// One thread per (row, split), rows adjacent in memory (reductions over leading axes coalesce).
extern "C" __global__ void t_reduce_cols(const __grid_constant__ ShapeDesc d, int op, const void* x, int xt, long long rows, long long len,
    int splits, double* part) {
  bool small = rows * len <= 0x7fffffffLL;
  i64 chunk = (len + splits - 1) / splits;
  int s = blockIdx.y;
  i64 j0 = s * chunk, j1 = min(len, j0 + chunk);
  GRID_STRIDE(r, rows) {
    Part p = part_init(op);
    for (i64 j = j0; j < j1; j++) {
      i64 off[1];
      if (small) offsets<1, true>(d, r * len + j, off); else offsets<1, false>(d, r * len + j, off);
      p = part_add(op, p, ld_d(x, xt, off[0]));
    }
    part[2 * (r * splits + s)] = p.a;
    part[2 * (r * splits + s) + 1] = p.b;
  }
}

extern "C" __global__ void t_reduce_final(const double* part, int op, long long rows, long long len, int splits, void* out, int ot) {
  GRID_STRIDE(r, rows) {
    Part p; p.a = part[2 * r * splits]; p.b = part[2 * r * splits + 1];
    for (int s = 1; s < splits; s++) {
      Part q; q.a = part[2 * (r * splits + s)]; q.b = part[2 * (r * splits + s) + 1];
      p = part_merge(op, p, q);
    }
    st_d(out, ot, r, part_final(op, p, len));
  }
}

// Index of the max (min) of each row of the [rows, len] space; the first NaN wins, ties give the first index.
// One warp per row.
static __device__ __forceinline__ bool arg_better(bool isMax, double v, i64 i, double bv, i64 bi) {
  bool vn = v != v, bn = bv != bv;
  if (vn || bn) return vn && (!bn || i < bi);
  if (v == bv) return i < bi;
  return isMax ? v > bv : v < bv;
}
extern "C" __global__ void t_argreduce(const __grid_constant__ ShapeDesc d, int isMax, const void* x, int xt, long long rows, long long len,
    long long* out) {
  bool small = rows * len <= 0x7fffffffLL;
  int lane = threadIdx.x & 31;
  i64 warp = (blockIdx.x * (i64)blockDim.x + threadIdx.x) >> 5;
  i64 nwarps = ((i64)gridDim.x * blockDim.x) >> 5;
  for (i64 r = warp; r < rows; r += nwarps) {
    double bv = 0; i64 bi = -1;
    for (i64 j = lane; j < len; j += 32) {
      i64 off[1];
      if (small) offsets<1, true>(d, r * len + j, off); else offsets<1, false>(d, r * len + j, off);
      double v = ld_d(x, xt, off[0]);
      if (bi < 0 || arg_better(isMax != 0, v, j, bv, bi)) { bv = v; bi = j; }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      double ov = __shfl_xor_sync(0xffffffffu, bv, o);
      i64 oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (oi >= 0 && (bi < 0 || arg_better(isMax != 0, ov, oi, bv, bi))) { bv = ov; bi = oi; }
    }
    if (lane == 0) out[r] = bi;
  }
}

// Inclusive cumulative sum along the middle axis of a contiguous [outer, len, inner] x; double accumulator.
extern "C" __global__ void t_cumsum(const void* x, int xt, void* out, int ot, long long outer, long long len, long long inner, int reverse) {
  GRID_STRIDE(c, outer * inner) {
    i64 o = c / inner, j = c - o * inner;
    double acc = 0;
    for (i64 step = 0; step < len; step++) {
      i64 i = reverse ? len - 1 - step : step;
      i64 e = (o * len + i) * inner + j;
      acc += ld_d(x, xt, e);
      st_d(out, ot, e, acc);
    }
  }
}

// ------------------------------------------------------------------------------------------ indexing

static __device__ __forceinline__ void copy_elem(const void* src, i64 si, void* dst, i64 di, int es) {
  if (es == 8) ((long long*)dst)[di] = ((const long long*)src)[si];
  else if (es == 4) ((int*)dst)[di] = ((const int*)src)[si];
  else ((short*)dst)[di] = ((const short*)src)[si];
}

// gather: iteration space = index shape; operand 0 = x strides with the axis stride zeroed, 1 = index strides.
// out[i] = x[o0 + idx * xAxisStride]
extern "C" __global__ void t_gather(const __grid_constant__ ShapeDesc d, const void* x, int es, long long xAxisStride, long long len,
    const void* idx, int it, void* out, long long n, long long* err) {
  GRID_STRIDE(i, n) {
    i64 off[2];
    offsets<2, false>(d, i, off);
    i64 k = ld_l(idx, it, off[1]);
    if (k < 0 || k >= len) { report_bad(err, i); continue; }
    copy_elem(x, off[0] + k * xAxisStride, out, i, es);
  }
}

// index select: iteration space = out shape; operand 0 = x strides with the axis stride zeroed,
// 1 = the index's stride on the axis only. out[i] = x[o0 + idx[o1] * xAxisStride]
extern "C" __global__ void t_index_select(const __grid_constant__ ShapeDesc d, const void* x, int es, long long xAxisStride,
    const void* idx, int it, void* out, long long n) {
  GRID_STRIDE(i, n) {
    i64 off[2];
    offsets<2, false>(d, i, off);
    copy_elem(x, off[0] + ld_l(idx, it, off[1]) * xAxisStride, out, i, es);
  }
}

// scatter-add (gather's backward) and index-add (indexSelect's backward): iteration space = source shape;
// operand 0 = target (contiguous) strides with the axis stride zeroed, 1 = index strides (index-add: only
// on the axis), 2 = source strides. target[o0 + idx * tAxisStride] += src[o2] (atomic; target f32 or f64).
extern "C" __global__ void t_scatter_add(const __grid_constant__ ShapeDesc d, void* target, int tt, long long tAxisStride, long long len,
    const void* idx, int it, const void* src, int st, long long n, long long* err) {
  GRID_STRIDE(i, n) {
    i64 off[3];
    offsets<3, false>(d, i, off);
    i64 k = ld_l(idx, it, off[1]);
    if (k < 0 || k >= len) { report_bad(err, i); continue; }
    i64 t = off[0] + k * tAxisStride;
    if (tt == DT_F64) atomicAdd((double*)target + t, ld_d(src, st, off[2]));
    else atomicAdd((float*)target + t, ld_f(src, st, off[2]));
  }
}

// Checks integer indices in [0, len) (positions of failures into *err).
extern "C" __global__ void t_check_index(const void* idx, int it, long long n, long long lo, long long hi, long long skip, long long* err) {
  GRID_STRIDE(i, n) {
    i64 k = ld_l(idx, it, i);
    if (k != skip && (k < lo || k >= hi)) report_bad(err, i);
  }
}

// ------------------------------------------------------------------------------------------ dropout, AdamW

static __device__ __forceinline__ u64 mix64(u64 z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// fulgur.tensor.Rng.uniform(stream, i) < p ? 0 : keep
extern "C" __global__ void t_dropout_mask(void* out, int ot, long long n, long long stream, double p, double keep) {
  GRID_STRIDE(i, n) {
    u64 bits = mix64((u64)stream + mix64((u64)i + 0x632BE59BD9B4E019ULL));
    double u = (double)(bits >> 11) * 0x1.0p-53;
    st_d(out, ot, i, u < p ? 0.0 : keep);
  }
}

// mean + std * fulgur.tensor.Rng.normal(stream, i): Box-Muller on the uniforms 2*pair and 2*pair+1 of pair i/2,
// the cosine branch for even i, the sine branch for odd i (as the host draws them).
extern "C" __global__ void t_fill_normal(void* out, int ot, long long n, long long stream, double mean, double std) {
  GRID_STRIDE(i, n) {
    u64 pair = (u64)i >> 1;
    u64 b1 = mix64((u64)stream + mix64(2 * pair + 0x632BE59BD9B4E019ULL));
    u64 b2 = mix64((u64)stream + mix64(2 * pair + 1 + 0x632BE59BD9B4E019ULL));
    double r = sqrt(-2.0 * log((double)((b1 >> 11) + 1) * 0x1.0p-53));
    double a = 2.0 * 3.141592653589793 * ((double)(b2 >> 11) * 0x1.0p-53);
    st_d(out, ot, i, mean + std * ((i & 1) ? r * sin(a) : r * cos(a)));
  }
}

// The CPU backend's f32 AdamW (same operation order). grad may be any dtype (contiguous).
// The step's values come from sched = [lr, 1 - b1^t, 1 - b2^t] (f64, device memory) so that a captured step replays
// with each step's learning rate; the derived factors are formed in double as the host did before rounding to float.
static __device__ __forceinline__ void adamw_factors(const double* sched, double lrScale, double wd, double* decay, double* stepSize,
    double* invSqrtBc2) {
  double lr = sched[0] * lrScale;
  *decay = 1 - lr * wd;
  *stepSize = lr / sched[1];
  *invSqrtBc2 = 1 / sqrt(sched[2]);
}

extern "C" __global__ void t_adamw_f32(float* p, const void* g, int gt, float* m, float* v, long long n, const double* sched, double lrScale,
    double wd, float b1, float b2, float c1, float c2, float eps) {
  double dd, sd, id;
  adamw_factors(sched, lrScale, wd, &dd, &sd, &id);
  float decay = (float)dd, stepSize = (float)sd, invSqrtBc2 = (float)id;
  GRID_STRIDE(i, n) {
    float gr = ld_f(g, gt, i);
    float mm = m[i] * b1 + gr * c1;
    float vv = v[i] * b2 + gr * gr * c2;
    float denom = sqrtf(vv) * invSqrtBc2 + eps;
    p[i] = p[i] * decay - (mm / denom) * stepSize;
    m[i] = mm;
    v[i] = vv;
  }
}

// AdamW over many f32 parameters in one launch: slots[] describes each parameter (10 words, see CudaIndexing.adamwAll)
// and blocks[] gives each block its (slot, chunk); the same math as t_adamw_f32, so the results are identical. Where
// c is not null the new parameter is also written there in dtype ct (a mixed-precision model's 16-bit weight).
struct AdamSlot { float* p; const void* g; float* m; float* v; long long n; double lrScale; double wd; long long gt; void* c; long long ct; };

extern "C" __global__ void t_adamw_all_f32(const AdamSlot* slots, const int2* blocks, const double* sched, float b1, float b2, float c1,
    float c2, float eps, int chunk) {
  int2 bm = blocks[blockIdx.x];
  const AdamSlot s = slots[bm.x];
  double dd, sd, id;
  adamw_factors(sched, s.lrScale, s.wd, &dd, &sd, &id);
  float decay = (float)dd, stepSize = (float)sd, invSqrtBc2 = (float)id;
  long long beg = (long long)bm.y * chunk, end = min(s.n, (long long)(bm.y + 1) * chunk);
  // f32 gradients, a bf16 copy or none, 16-byte aligned: four elements a thread per step (16-byte accesses keep more
  // bytes in flight than the scalar loop, which reached ~75% of the memory bandwidth); the same math per element
  if (s.gt == DT_F32 && (s.c == nullptr || s.ct == DT_BF16) && (beg & 3) == 0 &&
      (((unsigned long long)s.p | (unsigned long long)s.g | (unsigned long long)s.m | (unsigned long long)s.v) & 15) == 0 &&
      ((unsigned long long)s.c & 7) == 0) {
    const long long end4 = beg + ((end - beg) & ~3LL);
    for (long long i = beg + 4 * (long long)threadIdx.x; i < end4; i += 4 * (long long)blockDim.x) {
      float4 g4 = *reinterpret_cast<const float4*>((const float*)s.g + i);
      float4 m4 = *reinterpret_cast<const float4*>(s.m + i);
      float4 v4 = *reinterpret_cast<const float4*>(s.v + i);
      float4 p4 = *reinterpret_cast<const float4*>(s.p + i);
      float gr[4] = {g4.x, g4.y, g4.z, g4.w}, mm[4] = {m4.x, m4.y, m4.z, m4.w}, vv[4] = {v4.x, v4.y, v4.z, v4.w};
      float pn[4] = {p4.x, p4.y, p4.z, p4.w};
#pragma unroll
      for (int j = 0; j < 4; j++) {
        mm[j] = mm[j] * b1 + gr[j] * c1;
        vv[j] = vv[j] * b2 + gr[j] * gr[j] * c2;
        float denom = sqrtf(vv[j]) * invSqrtBc2 + eps;
        pn[j] = pn[j] * decay - (mm[j] / denom) * stepSize;
      }
      *reinterpret_cast<float4*>(s.p + i) = make_float4(pn[0], pn[1], pn[2], pn[3]);
      *reinterpret_cast<float4*>(s.m + i) = make_float4(mm[0], mm[1], mm[2], mm[3]);
      *reinterpret_cast<float4*>(s.v + i) = make_float4(vv[0], vv[1], vv[2], vv[3]);
      if (s.c) {
        __nv_bfloat162 lo = __floats2bfloat162_rn(pn[0], pn[1]), hi = __floats2bfloat162_rn(pn[2], pn[3]);
        *reinterpret_cast<uint2*>((__nv_bfloat16*)s.c + i) =
            make_uint2(*reinterpret_cast<unsigned*>(&lo), *reinterpret_cast<unsigned*>(&hi));
      }
    }
    beg = end4;
  }
  for (long long i = beg + threadIdx.x; i < end; i += blockDim.x) {
    float gr = ld_f(s.g, (int)s.gt, i);
    float mm = s.m[i] * b1 + gr * c1;
    float vv = s.v[i] * b2 + gr * gr * c2;
    float denom = sqrtf(vv) * invSqrtBc2 + eps;
    float pn = s.p[i] * decay - (mm / denom) * stepSize;
    s.p[i] = pn;
    s.m[i] = mm;
    s.v[i] = vv;
    if (s.c) st_d(s.c, (int)s.ct, i, (double)pn);
  }
}

// Generic AdamW in double (f64 parameters or moments, bf16/f16 parameters with f32 moments).
extern "C" __global__ void t_adamw_any(void* p, int pt, const void* g, int gt, void* m, int mt, void* v, int vt, long long n,
    const double* sched, double lrScale, double wd, double b1, double b2, double eps) {
  double decay, stepSize, invSqrtBc2;
  adamw_factors(sched, lrScale, wd, &decay, &stepSize, &invSqrtBc2);
  GRID_STRIDE(i, n) {
    double gr = ld_d(g, gt, i);
    double mm = b1 * ld_d(m, mt, i) + (1 - b1) * gr;
    double vv = b2 * ld_d(v, vt, i) + (1 - b2) * gr * gr;
    double pv = ld_d(p, pt, i) * decay - stepSize * mm / (sqrt(vv) * invSqrtBc2 + eps);
    st_d(m, mt, i, mm);
    st_d(v, vt, i, vv);
    st_d(p, pt, i, pv);
  }
}

// Sum of squares of x (any dtype, contiguous) into part[blockIdx.x] (double); the caller sums the blocks.
extern "C" __global__ void t_sumsq_partial(const void* x, int xt, long long n, double* part) {
  __shared__ double sc[32];
  double acc = 0;
  GRID_STRIDE(i, n) { double v = ld_d(x, xt, i); acc += v * v; }
  double s = block_sum(acc, sc);
  if (threadIdx.x == 0) part[blockIdx.x] = s;
}

// ------------------------------------------------------------------------------------------ contiguous fast paths
// Same-shape contiguous operands with compile-time dtypes (f32, bf16), four elements per thread through 16-byte
// (f32) or 8-byte (bf16) accesses; the Java side checks alignment (16 / 8 bytes) and falls back to the strided
// kernels otherwise. Same math as the strided kernels.

typedef __nv_bfloat16 bf16_t;

static __device__ __forceinline__ void ld4(const float* p, i64 i, float* v) {
  float4 x = *reinterpret_cast<const float4*>(p + i);
  v[0] = x.x; v[1] = x.y; v[2] = x.z; v[3] = x.w;
}
static __device__ __forceinline__ void ld4(const bf16_t* p, i64 i, float* v) {
  uint2 x = *reinterpret_cast<const uint2*>(p + i);
  float2 a = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&x.x));
  float2 b = __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&x.y));
  v[0] = a.x; v[1] = a.y; v[2] = b.x; v[3] = b.y;
}
static __device__ __forceinline__ void st4(float* p, i64 i, const float* v) {
  *reinterpret_cast<float4*>(p + i) = make_float4(v[0], v[1], v[2], v[3]);
}
static __device__ __forceinline__ void st4(bf16_t* p, i64 i, const float* v) {
  __nv_bfloat162 a = __floats2bfloat162_rn(v[0], v[1]);
  __nv_bfloat162 b = __floats2bfloat162_rn(v[2], v[3]);
  uint2 x;
  x.x = *reinterpret_cast<unsigned*>(&a);
  x.y = *reinterpret_cast<unsigned*>(&b);
  *reinterpret_cast<uint2*>(p + i) = x;
}
static __device__ __forceinline__ float ld1(const float* p, i64 i) { return p[i]; }
static __device__ __forceinline__ float ld1(const bf16_t* p, i64 i) { return __bfloat162float(p[i]); }
static __device__ __forceinline__ void st1(float* p, i64 i, float v) { p[i] = v; }
static __device__ __forceinline__ void st1(bf16_t* p, i64 i, float v) { p[i] = __float2bfloat16(v); }

#define GRID_STRIDE4(i, n4) for (i64 i = blockIdx.x * (i64)blockDim.x + threadIdx.x; i < (n4); i += (i64)gridDim.x * blockDim.x)

// Two groups of four per grid-stride step, both loaded before either is stored: twice the bytes in flight per thread
// for bf16's 8-byte loads (the residual sums and SGLU products of a training step). o may be a (the in-place sum):
// each element is still read before it is written.
template <typename TA, typename TB, typename TO>
static __device__ __forceinline__ void binary_c(int op, const TA* a, const TB* b, TO* o, i64 n) {
  i64 n4 = n >> 2;
  const i64 step = (i64)gridDim.x * blockDim.x;
  for (i64 q = blockIdx.x * (i64)blockDim.x + threadIdx.x; q < n4; q += 2 * step) {
    const i64 q2 = q + step;
    const bool two = q2 < n4;
    float x[4], y[4], x2[4], y2[4], r[4];
    ld4(a, 4 * q, x);
    ld4(b, 4 * q, y);
    if (two) {
      ld4(a, 4 * q2, x2);
      ld4(b, 4 * q2, y2);
    }
#pragma unroll
    for (int j = 0; j < 4; j++) r[j] = binary_op<float>(op, x[j], y[j]);
    st4(o, 4 * q, r);
    if (two) {
#pragma unroll
      for (int j = 0; j < 4; j++) r[j] = binary_op<float>(op, x2[j], y2[j]);
      st4(o, 4 * q2, r);
    }
  }
  for (i64 i = 4 * n4 + blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    st1(o, i, binary_op<float>(op, ld1(a, i), ld1(b, i)));
  }
}
extern "C" __global__ void t_binary_c_f32_f32(int op, const float* a, const float* b, float* o, long long n) { binary_c(op, a, b, o, n); }
extern "C" __global__ void t_binary_c_bf16_bf16(int op, const bf16_t* a, const bf16_t* b, bf16_t* o, long long n) { binary_c(op, a, b, o, n); }
extern "C" __global__ void t_binary_c_f32_bf16(int op, const float* a, const bf16_t* b, float* o, long long n) { binary_c(op, a, b, o, n); }
extern "C" __global__ void t_binary_c_bf16_f32(int op, const bf16_t* a, const float* b, float* o, long long n) { binary_c(op, a, b, o, n); }

// The backward of a same-shape product y = a ⊙ b (a GLU without activation: TNL's SGLU): da = dy ⊙ b, db = dy ⊙ a in
// one pass (dy read once), contiguous operands of one dtype, f32 math.
template <typename T>
static __device__ __forceinline__ void mul_bwd_c(const T* a, const T* b, const T* dy, T* da, T* db, i64 n) {
  i64 n4 = n >> 2;
  GRID_STRIDE4(q, n4) {
    float x[4], y[4], d[4], ra[4], rb[4];
    ld4(a, 4 * q, x);
    ld4(b, 4 * q, y);
    ld4(dy, 4 * q, d);
#pragma unroll
    for (int j = 0; j < 4; j++) {
      ra[j] = d[j] * y[j];
      rb[j] = d[j] * x[j];
    }
    st4(da, 4 * q, ra);
    st4(db, 4 * q, rb);
  }
  for (i64 i = 4 * n4 + blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    float d = ld1(dy, i);
    st1(da, i, d * ld1(b, i));
    st1(db, i, d * ld1(a, i));
  }
}
extern "C" __global__ void t_mul_bwd_c_f32(const float* a, const float* b, const float* dy, float* da, float* db, long long n) {
  mul_bwd_c(a, b, dy, da, db, n);
}
extern "C" __global__ void t_mul_bwd_c_bf16(const bf16_t* a, const bf16_t* b, const bf16_t* dy, bf16_t* da, bf16_t* db, long long n) {
  mul_bwd_c(a, b, dy, da, db, n);
}

template <typename T>
static __device__ __forceinline__ void unary_c(int op, const T* x, T* o, float p, i64 n) {
  i64 n4 = n >> 2;
  GRID_STRIDE4(q, n4) {
    float v[4];
    ld4(x, 4 * q, v);
#pragma unroll
    for (int j = 0; j < 4; j++) v[j] = unary_op<float>(op, v[j], p);
    st4(o, 4 * q, v);
  }
  for (i64 i = 4 * n4 + blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    st1(o, i, unary_op<float>(op, ld1(x, i), p));
  }
}
extern "C" __global__ void t_unary_c_f32(int op, const float* x, float* o, float p, long long n) { unary_c(op, x, o, p, n); }
extern "C" __global__ void t_unary_c_bf16(int op, const bf16_t* x, bf16_t* o, float p, long long n) { unary_c(op, x, o, p, n); }

// dx = dy * f'(x) with the f32 rules of t_unary_bwd_f; y (same dtype) may be null
static __device__ __forceinline__ float unary_bwd1(int op, float xv, float yv, bool haveY, float g, float p) {
  float y = (haveY && !recompute_y(op)) ? yv : unary_op<float>(op, xv, p);
  if (op == U_RELU) return xv > 0 ? g : 0.f;
  if (op == U_ADD_SCALAR) return g;
  if (op == U_NEG) return -g;
  return g * unary_deriv<float>(op, xv, y, p);
}
template <typename T>
static __device__ __forceinline__ void unary_bwd_c(int op, const T* x, const T* y, const T* dy, T* o, float p, i64 n) {
  i64 n4 = n >> 2;
  bool haveY = y != nullptr;
  GRID_STRIDE4(q, n4) {
    float xv[4], yv[4] = {0, 0, 0, 0}, g[4], r[4];
    ld4(x, 4 * q, xv);
    if (haveY) ld4(y, 4 * q, yv);
    ld4(dy, 4 * q, g);
#pragma unroll
    for (int j = 0; j < 4; j++) r[j] = unary_bwd1(op, xv[j], yv[j], haveY, g[j], p);
    st4(o, 4 * q, r);
  }
  for (i64 i = 4 * n4 + blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) {
    st1(o, i, unary_bwd1(op, ld1(x, i), haveY ? ld1(y, i) : 0.f, haveY, ld1(dy, i), p));
  }
}
extern "C" __global__ void t_unary_bwd_c_f32(int op, const float* x, const float* y, const float* dy, float* o, float p, long long n) {
  unary_bwd_c(op, x, y, dy, o, p, n);
}
extern "C" __global__ void t_unary_bwd_c_bf16(int op, const bf16_t* x, const bf16_t* y, const bf16_t* dy, bf16_t* o, float p, long long n) {
  unary_bwd_c(op, x, y, dy, o, p, n);
}

template <typename TS, typename TD>
static __device__ __forceinline__ void convert_c(const TS* s, TD* d, i64 n) {
  i64 n4 = n >> 2;
  GRID_STRIDE4(q, n4) {
    float v[4];
    ld4(s, 4 * q, v);
    st4(d, 4 * q, v);
  }
  for (i64 i = 4 * n4 + blockIdx.x * (i64)blockDim.x + threadIdx.x; i < n; i += (i64)gridDim.x * blockDim.x) st1(d, i, ld1(s, i));
}
extern "C" __global__ void t_convert_c_f32_bf16(const float* s, bf16_t* d, long long n) { convert_c(s, d, n); }
extern "C" __global__ void t_convert_c_bf16_f32(const bf16_t* s, float* d, long long n) { convert_c(s, d, n); }

// ------------------------------------------------------------------------------------------ row-strided fast paths
// [rows, cols] operands whose last dimension is contiguous and whose rows are ld elements apart (column slices such
// as the chunks of a fused projection), output contiguous; cols % 4 == 0 and 16/8-byte alignment checked in Java.

static __device__ __forceinline__ void rc(i64 q, int c4, bool small, i64& r, int& c) {
  if (small) {
    unsigned uq = (unsigned)q, ur = uq / (unsigned)c4;
    r = ur;
    c = (int)(uq - ur * (unsigned)c4) * 4;
  } else {
    r = q / c4;
    c = (int)(q - r * c4) * 4;
  }
}

template <typename TA, typename TB, typename TO>
static __device__ __forceinline__ void binary_r(int op, const TA* a, i64 lda, const TB* b, i64 ldb, TO* o, i64 rows, int cols) {
  int c4 = cols >> 2;
  i64 n4 = rows * c4;
  bool small = n4 <= 0xffffffffLL;
  GRID_STRIDE4(q, n4) {
    i64 r; int c;
    rc(q, c4, small, r, c);
    float x[4], y[4], z[4];
    ld4(a, r * lda + c, x);
    ld4(b, r * ldb + c, y);
#pragma unroll
    for (int j = 0; j < 4; j++) z[j] = binary_op<float>(op, x[j], y[j]);
    st4(o, r * cols + c, z);
  }
}
extern "C" __global__ void t_binary_r_f32_f32(int op, const float* a, long long lda, const float* b, long long ldb, float* o, long long rows, int cols) {
  binary_r(op, a, lda, b, ldb, o, rows, cols);
}
extern "C" __global__ void t_binary_r_bf16_bf16(int op, const bf16_t* a, long long lda, const bf16_t* b, long long ldb, bf16_t* o, long long rows,
    int cols) {
  binary_r(op, a, lda, b, ldb, o, rows, cols);
}
extern "C" __global__ void t_binary_r_f32_bf16(int op, const float* a, long long lda, const bf16_t* b, long long ldb, float* o, long long rows,
    int cols) {
  binary_r(op, a, lda, b, ldb, o, rows, cols);
}
extern "C" __global__ void t_binary_r_bf16_f32(int op, const bf16_t* a, long long lda, const float* b, long long ldb, float* o, long long rows,
    int cols) {
  binary_r(op, a, lda, b, ldb, o, rows, cols);
}

template <typename T>
static __device__ __forceinline__ void unary_r(int op, const T* x, i64 ldx, T* o, float p, i64 rows, int cols) {
  int c4 = cols >> 2;
  i64 n4 = rows * c4;
  bool small = n4 <= 0xffffffffLL;
  GRID_STRIDE4(q, n4) {
    i64 r; int c;
    rc(q, c4, small, r, c);
    float v[4];
    ld4(x, r * ldx + c, v);
#pragma unroll
    for (int j = 0; j < 4; j++) v[j] = unary_op<float>(op, v[j], p);
    st4(o, r * cols + c, v);
  }
}
extern "C" __global__ void t_unary_r_f32(int op, const float* x, long long ldx, float* o, float p, long long rows, int cols) {
  unary_r(op, x, ldx, o, p, rows, cols);
}
extern "C" __global__ void t_unary_r_bf16(int op, const bf16_t* x, long long ldx, bf16_t* o, float p, long long rows, int cols) {
  unary_r(op, x, ldx, o, p, rows, cols);
}

template <typename T>
static __device__ __forceinline__ void unary_bwd_r(int op, const T* x, i64 ldx, const T* y, i64 ldy, const T* dy, i64 lddy, T* o, float p,
    i64 rows, int cols) {
  int c4 = cols >> 2;
  i64 n4 = rows * c4;
  bool small = n4 <= 0xffffffffLL;
  bool haveY = y != nullptr;
  GRID_STRIDE4(q, n4) {
    i64 r; int c;
    rc(q, c4, small, r, c);
    float xv[4], yv[4] = {0, 0, 0, 0}, g[4], z[4];
    ld4(x, r * ldx + c, xv);
    if (haveY) ld4(y, r * ldy + c, yv);
    ld4(dy, r * lddy + c, g);
#pragma unroll
    for (int j = 0; j < 4; j++) z[j] = unary_bwd1(op, xv[j], yv[j], haveY, g[j], p);
    st4(o, r * cols + c, z);
  }
}
extern "C" __global__ void t_unary_bwd_r_f32(int op, const float* x, long long ldx, const float* y, long long ldy, const float* dy, long long lddy,
    float* o, float p, long long rows, int cols) {
  unary_bwd_r(op, x, ldx, y, ldy, dy, lddy, o, p, rows, cols);
}
extern "C" __global__ void t_unary_bwd_r_bf16(int op, const bf16_t* x, long long ldx, const bf16_t* y, long long ldy, const bf16_t* dy,
    long long lddy, bf16_t* o, float p, long long rows, int cols) {
  unary_bwd_r(op, x, ldx, y, ldy, dy, lddy, o, p, rows, cols);
}
