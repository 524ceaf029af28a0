// Lightning attention in f32 for any head dims (up to 512) and packed variable-length sequences: the
// CUDA backend's exact path (f32 models, the CPU-comparison tests) and its fallback where the tensor-core
// kernels of lightning.cu do not apply (head dims other than 64/128, cuSeqlens, decoding).
//
// One kernel, lg_walk, walks a sequence in blocks of CB tokens with a running state on chip:
//
//   out_t = alpha * sum_{s<=t} lam^(t-s) (qq_t . kk_s) vv_s  +  beta * lam^(t+off) qq_t S0
//   SF    = lam^L S0 + gamma * lam^gOff * sum_s lam^(L-1-s) kk_s^T vv_s
//
// with t the position in walk order (reverse = 1 walks the sequence backwards), lam = exp(-slope_h) and
// S0 read as [DQ, DV] (s0T = 1: stored [DV, DQ] and read transposed). The forward, the three gradient
// walks and decoding are all instances:
//   forward : (q, k, v)        alpha = beta = scale, off = 1, SF = final state (gamma 1, gOff 0)
//   dQ      : (dO, v, k)       S0 = initial state transposed, alpha = beta = scale, off = 1
//   dV      : (k, q, dO) rev   S0 = dS_T, alpha = scale, beta = 1, off = 0, SF = dS0 (gamma = scale, gOff = 1)
//   dK      : (v, dO, q) rev   S0 = dS_T transposed, alpha = scale, beta = 1, off = 0
//
// Layout: qq, kk [B*T, H, DQ], vv, out [B*T, H, DV] f32 contiguous; states [N, H, DQ, DV] f32.
// Grid: (ceil(DV / EW), H, N) with N = B (cu == null) or the number of packed sequences. Each CTA owns
// EW value columns; QK^T is recomputed per column tile (this path is for exactness and generality).
// SF may alias S0 (decoding updates the state in place): each CTA reads and writes only its own columns
// when s0T = 0, and writes SF after its last read.

#define CB 32
#define EW 32
#define NT 256

extern "C" __global__ void __launch_bounds__(NT) lg_walk(const float* __restrict__ qq, const float* __restrict__ kk,
    const float* __restrict__ vv, float* __restrict__ out, const float* s0, int s0T, float* sF, const int* __restrict__ cu,
    const float* __restrict__ slopes, int T, int H, int DQ, int DV, int reverse, float alpha, float beta, int off, float gamma,
    int gOff) {
  extern __shared__ float smem[];
  const int ldq = DQ + 1;
  float* Qs = smem;                  // [CB][DQ+1]
  float* Ks = Qs + CB * ldq;         // [CB][DQ+1]
  float* Vs = Ks + CB * ldq;         // [CB][EW+1]
  float* As = Vs + CB * (EW + 1);    // [CB][CB+1]
  float* Rs = As + CB * (CB + 1);    // [DQ][EW]
  float* Ds = Rs + DQ * EW;          // [CB+1]: lam^j

  const int tile = blockIdx.x, h = blockIdx.y, n = blockIdx.z;
  const int c0 = tile * EW;
  const int ew = min(EW, DV - c0);
  int start, len;
  if (cu) { start = cu[n]; len = cu[n + 1] - start; }
  else { start = n * T; len = T; }
  const float slope = slopes[h];
  const int tid = threadIdx.x;
  const long long stBase = ((long long)n * H + h) * (long long)DQ * DV;

  for (int i = tid; i < DQ * EW; i += NT) Rs[i] = 0.f;
  for (int i = tid; i <= CB; i += NT) Ds[i] = expf(-slope * (float)i);

  for (int t0 = 0; t0 < len; t0 += CB) {
    const int L = min(CB, len - t0);
    __syncthreads();
    // load the block (walk order position t0 + i -> token)
    for (int idx = tid; idx < CB * DQ; idx += NT) {
      int i = idx / DQ, d = idx - i * DQ;
      float qv = 0.f, kv = 0.f;
      if (i < L) {
        int tok = reverse ? start + len - 1 - (t0 + i) : start + t0 + i;
        long long row = ((long long)tok * H + h) * DQ + d;
        qv = qq[row];
        kv = kk[row];
      }
      Qs[i * ldq + d] = qv;
      Ks[i * ldq + d] = kv;
    }
    for (int idx = tid; idx < CB * EW; idx += NT) {
      int i = idx / EW, c = idx - i * EW;
      float v = 0.f;
      if (i < L && c < ew) {
        int tok = reverse ? start + len - 1 - (t0 + i) : start + t0 + i;
        v = vv[((long long)tok * H + h) * DV + c0 + c];
      }
      Vs[i * (EW + 1) + c] = v;
    }
    __syncthreads();
    // A = (Q K^T) * decay mask (causal within the block)
    for (int idx = tid; idx < CB * CB; idx += NT) {
      int i = idx / CB, j = idx - i * CB;
      float a = 0.f;
      if (j <= i && i < L) {
        float dot = 0.f;
        for (int d = 0; d < DQ; d++) dot = fmaf(Qs[i * ldq + d], Ks[j * ldq + d], dot);
        a = dot * Ds[i - j];
      }
      As[i * (CB + 1) + j] = a;
    }
    __syncthreads();
    // outputs of the block
    for (int idx = tid; idx < CB * EW; idx += NT) {
      int i = idx / EW, c = idx - i * EW;
      if (i >= L || c >= ew) continue;
      float intra = 0.f;
      for (int j = 0; j <= i; j++) intra = fmaf(As[i * (CB + 1) + j], Vs[j * (EW + 1) + c], intra);
      float inter = 0.f;
      for (int d = 0; d < DQ; d++) inter = fmaf(Qs[i * ldq + d], Rs[d * EW + c], inter);
      float o = alpha * (intra + Ds[i + 1] * inter);
      if (s0) {
        float init = 0.f;
        for (int d = 0; d < DQ; d++) {
          float sv = s0T ? s0[stBase + (long long)(c0 + c) * DQ + d] : s0[stBase + (long long)d * DV + c0 + c];
          init = fmaf(Qs[i * ldq + d], sv, init);
        }
        o += beta * expf(-slope * (float)(t0 + i + off)) * init;
      }
      int tok = reverse ? start + len - 1 - (t0 + i) : start + t0 + i;
      out[((long long)tok * H + h) * DV + c0 + c] = o;
    }
    __syncthreads();
    // R = lam^L R + sum_j lam^(L-1-j) k_j^T v_j
    const float lamL = Ds[L];
    for (int idx = tid; idx < DQ * EW; idx += NT) {
      int d = idx / EW, c = idx - d * EW;
      float acc = 0.f;
      for (int j = 0; j < L; j++) acc = fmaf(Ks[j * ldq + d] * Ds[L - 1 - j], Vs[j * (EW + 1) + c], acc);
      Rs[idx] = lamL * Rs[idx] + acc;
    }
  }
  __syncthreads();
  if (sF) {
    const float lamLen = expf(-slope * (float)len);
    const float g = gamma * expf(-slope * (float)gOff);
    for (int idx = tid; idx < DQ * EW; idx += NT) {
      int d = idx / EW, c = idx - d * EW;
      if (c >= ew) continue;
      float v = g * Rs[idx];
      if (s0) {
        float sv = s0T ? s0[stBase + (long long)(c0 + c) * DQ + d] : s0[stBase + (long long)d * DV + c0 + c];
        v += lamLen * sv;
      }
      // reading s0 above and writing sF here touch the same element in the same thread (in place is safe)
      sF[stBase + (long long)d * DV + c0 + c] = v;
    }
  }
}
