// LCSM's Expand-Oscillation-Shrink scan (fulgur.ops.lcsm.Lcsm#scan) with memory m_t in R^{k x d}:
//   m_t = exp(logO_t) * m_{t-1} + e_t * i_t      y_t = sum_k s_t * m_t       (elementwise per (k, d))
// i [B, T, d]; e, logO, s [B, T, k, d] given by element strides (broadcast views have stride 0); m0, mT
// [B, k, d] contiguous. Every (k, d) entry is an independent scalar recurrence in f32.
// One CTA per (32 channels d, batch b); thread (ty, lane) owns the entries (ty + KT j, d0 + lane), j < KPT.
// Tokens are processed TB at a time; y's sum over k goes through shared memory.
#include <cuda_bf16.h>

#define TB 8
#define KPT 4      // entries per thread: k <= KPT * KT (blockDim = 32 x KT, KT <= 16)

struct LcsmDesc {
  long long si[3];       // i: b, t, d
  long long se[4];       // e: b, t, k, d
  long long so[4];       // logO
  long long ss[4];       // s
};

static __device__ __forceinline__ float ldx(const void* p, int f32, long long i) {
  return f32 ? reinterpret_cast<const float*>(p)[i] : __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(p)[i]);
}
static __device__ __forceinline__ void stx(void* p, int f32, long long i, float v) {
  if (f32) reinterpret_cast<float*>(p)[i] = v;
  else reinterpret_cast<__nv_bfloat16*>(p)[i] = __float2bfloat16(v);
}

extern "C" __global__ void __launch_bounds__(512)
lcsm_fwd(const void* __restrict__ in, const void* __restrict__ e, const void* __restrict__ lo, const void* __restrict__ s, int f32,
         const __grid_constant__ LcsmDesc st, const void* __restrict__ m0, void* __restrict__ y, void* __restrict__ mT,
         int T, int K, int D) {
  __shared__ float red[TB][16][33];
  const int lane = threadIdx.x & 31, ty = threadIdx.x >> 5, KT = blockDim.x >> 5;
  const int d = blockIdx.x * 32 + lane, b = blockIdx.y;
  const bool on = d < D;
  float m[KPT];
#pragma unroll
  for (int j = 0; j < KPT; ++j) {
    const int kk = ty + KT * j;
    m[j] = (m0 && on && kk < K) ? ldx(m0, f32, ((long long)b * K + kk) * D + d) : 0.f;
  }
  for (int t0 = 0; t0 < T; t0 += TB) {
    const int nt = min(TB, T - t0);
    for (int t = 0; t < nt; ++t) {
      const int tt = t0 + t;
      float part = 0.f;
      if (on) {
        const float iv = ldx(in, f32, b * st.si[0] + tt * st.si[1] + d * st.si[2]);
#pragma unroll
        for (int j = 0; j < KPT; ++j) {
          const int kk = ty + KT * j;
          if (kk < K) {
            const float ev = ldx(e, f32, b * st.se[0] + tt * st.se[1] + kk * st.se[2] + d * st.se[3]);
            const float ov = expf(ldx(lo, f32, b * st.so[0] + tt * st.so[1] + kk * st.so[2] + d * st.so[3]));
            const float sv = ldx(s, f32, b * st.ss[0] + tt * st.ss[1] + kk * st.ss[2] + d * st.ss[3]);
            m[j] = ov * m[j] + ev * iv;
            part += sv * m[j];
          }
        }
      }
      red[t][ty][lane] = part;
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < nt * 32; idx += blockDim.x) {
      const int t = idx >> 5, l = idx & 31;
      const int dd = blockIdx.x * 32 + l;
      if (dd >= D) continue;
      float sum = 0.f;
      for (int r = 0; r < KT; ++r) sum += red[t][r][l];
      stx(y, f32, ((long long)b * T + t0 + t) * D + dd, sum);
    }
    __syncthreads();
  }
  if (mT && on) {
#pragma unroll
    for (int j = 0; j < KPT; ++j) {
      const int kk = ty + KT * j;
      if (kk < K) stx(mT, f32, ((long long)b * K + kk) * D + d, m[j]);
    }
  }
}

// Backward. acc_t = s_t dy_t + o_{t+1} acc_{t+1} (acc after the last token = dmT or 0);
//   ds_t = dy_t m_t, de_t = acc_t i_t, dlogO_t = acc_t o_t m_{t-1}, di_t = sum_k acc_t e_t, dm0 = o_0 acc_0.
// m is recomputed: a forward pass leaves m at every TB-th token in ckpt [B, ceil(T/TB), K, D] (f32), the
// backward pass recomputes each group of TB tokens from its checkpoint. ds, de, dlogO: [B, T, K, D]
// contiguous; di [B, T, D]; dm0 [B, K, D] (all in the input dtype).
extern "C" __global__ void __launch_bounds__(512)
lcsm_bwd(const void* __restrict__ in, const void* __restrict__ e, const void* __restrict__ lo, const void* __restrict__ s, int f32,
         const __grid_constant__ LcsmDesc st, const void* __restrict__ m0, const void* __restrict__ dy, const void* __restrict__ dmT,
         float* __restrict__ ckpt, void* __restrict__ di, void* __restrict__ de, void* __restrict__ dlo, void* __restrict__ ds,
         void* __restrict__ dm0, int T, int K, int D) {
  __shared__ float red[TB][16][33];
  const int lane = threadIdx.x & 31, ty = threadIdx.x >> 5, KT = blockDim.x >> 5;
  const int d = blockIdx.x * 32 + lane, b = blockIdx.y;
  const bool on = d < D;
  const int ng = (T + TB - 1) / TB;
  float m[KPT];
#pragma unroll
  for (int j = 0; j < KPT; ++j) {
    const int kk = ty + KT * j;
    m[j] = (m0 && on && kk < K) ? ldx(m0, f32, ((long long)b * K + kk) * D + d) : 0.f;
  }
  // forward pass: checkpoints
  if (on) {
    for (int gi = 0; gi < ng; ++gi) {
#pragma unroll
      for (int j = 0; j < KPT; ++j) {
        const int kk = ty + KT * j;
        if (kk < K) ckpt[(((long long)b * ng + gi) * K + kk) * D + d] = m[j];
      }
      const int t0 = gi * TB, nt = min(TB, T - t0);
      for (int t = 0; t < nt; ++t) {
        const int tt = t0 + t;
        const float iv = ldx(in, f32, b * st.si[0] + tt * st.si[1] + d * st.si[2]);
#pragma unroll
        for (int j = 0; j < KPT; ++j) {
          const int kk = ty + KT * j;
          if (kk < K) {
            const float ev = ldx(e, f32, b * st.se[0] + tt * st.se[1] + kk * st.se[2] + d * st.se[3]);
            const float ov = expf(ldx(lo, f32, b * st.so[0] + tt * st.so[1] + kk * st.so[2] + d * st.so[3]));
            m[j] = ov * m[j] + ev * iv;
          }
        }
      }
    }
  }
  float acc[KPT], onext[KPT];
#pragma unroll
  for (int j = 0; j < KPT; ++j) {
    const int kk = ty + KT * j;
    acc[j] = (dmT && on && kk < K) ? ldx(dmT, f32, ((long long)b * K + kk) * D + d) : 0.f;
    onext[j] = 1.f;
  }
  for (int gi = ng - 1; gi >= 0; --gi) {
    const int t0 = gi * TB, nt = min(TB, T - t0);
    float mt[TB][KPT];   // m after each token of the group
    float mstart[KPT];
#pragma unroll
    for (int j = 0; j < KPT; ++j) {
      const int kk = ty + KT * j;
      mstart[j] = (on && kk < K) ? ckpt[(((long long)b * ng + gi) * K + kk) * D + d] : 0.f;
    }
    {
      float mm[KPT];
#pragma unroll
      for (int j = 0; j < KPT; ++j) mm[j] = mstart[j];
#pragma unroll
      for (int t = 0; t < TB; ++t) {
        if (t < nt && on) {
          const int tt = t0 + t;
          const float iv = ldx(in, f32, b * st.si[0] + tt * st.si[1] + d * st.si[2]);
#pragma unroll
          for (int j = 0; j < KPT; ++j) {
            const int kk = ty + KT * j;
            if (kk < K) {
              const float ev = ldx(e, f32, b * st.se[0] + tt * st.se[1] + kk * st.se[2] + d * st.se[3]);
              const float ov = expf(ldx(lo, f32, b * st.so[0] + tt * st.so[1] + kk * st.so[2] + d * st.so[3]));
              mm[j] = ov * mm[j] + ev * iv;
            }
          }
        }
#pragma unroll
        for (int j = 0; j < KPT; ++j) mt[t][j] = mm[j];
      }
    }
#pragma unroll
    for (int t = TB - 1; t >= 0; --t) {
      float part = 0.f;
      if (t < nt && on) {
        const int tt = t0 + t;
        const float iv = ldx(in, f32, b * st.si[0] + tt * st.si[1] + d * st.si[2]);
        const float g = ldx(dy, f32, ((long long)b * T + tt) * D + d);
#pragma unroll
        for (int j = 0; j < KPT; ++j) {
          const int kk = ty + KT * j;
          if (kk < K) {
            const float ev = ldx(e, f32, b * st.se[0] + tt * st.se[1] + kk * st.se[2] + d * st.se[3]);
            const float ov = expf(ldx(lo, f32, b * st.so[0] + tt * st.so[1] + kk * st.so[2] + d * st.so[3]));
            const float sv = ldx(s, f32, b * st.ss[0] + tt * st.ss[1] + kk * st.ss[2] + d * st.ss[3]);
            const float mprev = t == 0 ? mstart[j] : mt[t > 0 ? t - 1 : 0][j];
            acc[j] = onext[j] * acc[j] + sv * g;
            const long long o4 = (((long long)b * T + tt) * K + kk) * D + d;
            stx(ds, f32, o4, g * mt[t][j]);
            stx(de, f32, o4, acc[j] * iv);
            stx(dlo, f32, o4, acc[j] * ov * mprev);
            part += acc[j] * ev;
            onext[j] = ov;
          }
        }
      }
      red[t][ty][lane] = part;
    }
    __syncthreads();
    for (int idx = threadIdx.x; idx < nt * 32; idx += blockDim.x) {
      const int t = idx >> 5, l = idx & 31;
      const int dd = blockIdx.x * 32 + l;
      if (dd >= D) continue;
      float sum = 0.f;
      for (int r = 0; r < KT; ++r) sum += red[t][r][l];
      stx(di, f32, ((long long)b * T + t0 + t) * D + dd, sum);
    }
    __syncthreads();
  }
  if (dm0 && on) {
#pragma unroll
    for (int j = 0; j < KPT; ++j) {
      const int kk = ty + KT * j;
      if (kk < K) stx(dm0, f32, ((long long)b * K + kk) * D + d, onext[j] * acc[j]);
    }
  }
}
