// Tensor-core building blocks shared by the attention and MoE kernels: mma.sync m16n8k16 (bf16 in,
// f32 accumulate), ldmatrix lane addresses into XOR-swizzled shared tiles, cp.async copies.
//
// Fragment layouts (lane l, g = l / 4, t4 = l % 4) of mma.m16n8k16:
//   A (16x16, row): a0 (g, 2t4..+1), a1 (g+8, 2t4..), a2 (g, 8+2t4..), a3 (g+8, 8+2t4..)
//   B (16x8, col):  b0 (k 2t4..+1, n g), b1 (k 8+2t4.., n g)
//   C (16x8):       c0 c1 (g, 2t4..+1), c2 c3 (g+8, 2t4..+1)
#include <cuda_bf16.h>

typedef __nv_bfloat16 bf16;
typedef unsigned int u32;

static __device__ __forceinline__ u32 smem_u32(const void* p) { return (u32)__cvta_generic_to_shared(p); }

// Byte offset of 16-byte chunk c of row r in a row-major bf16 tile of COLS columns (COLS a multiple of 32),
// XOR-swizzled so that the 8 rows an ldmatrix reads at one chunk column fall in 8 different bank groups.
template <int COLS>
static __device__ __forceinline__ u32 swz(int r, int c) {
  static_assert(COLS % 32 == 0, "swizzled tiles are 32, 64 or more (a multiple of 64) columns wide");
  if (COLS >= 64) return (u32)(r * COLS * 2 + ((c ^ (r & 7)) << 4));
  else return (u32)(r * COLS * 2 + ((c ^ ((r >> 1) & 3)) << 4));  // 32 columns: 4 chunks per row
}

static __device__ __forceinline__ void cp_async16(u32 dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
static __device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
static __device__ __forceinline__ void cp_async_wait() { asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory"); }

static __device__ __forceinline__ void ldsm4(u32* r, u32 addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
static __device__ __forceinline__ void ldsm4t(u32* r, u32 addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
static __device__ __forceinline__ void mma16816(float* c, const u32* a, u32 b0, u32 b1) {
  asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
static __device__ __forceinline__ u32 pack_bf16(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<u32*>(&v);
}
static __device__ __forceinline__ float2 unpack_bf16(u32 x) {
  return __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&x));
}
// stores the pair (r, c), (r, c+1) (c even) of a swizzled COLS-wide tile
template <int COLS>
static __device__ __forceinline__ void st_pair(char* tile, int r, int c, float x, float y) {
  *reinterpret_cast<u32*>(tile + swz<COLS>(r, c >> 3) + (c & 7) * 2) = pack_bf16(x, y);
}

// Lane addresses for ldmatrix.x4 (lane l):
// A (16x16 at m0,k0) from [m][k] storage (non-trans)
template <int COLS> static __device__ __forceinline__ u32 addrA(u32 base, int m0, int k0, int l) {
  return base + swz<COLS>(m0 + (l & 15), (k0 >> 3) + (l >> 4));
}
// A from [k][m] storage (trans)
template <int COLS> static __device__ __forceinline__ u32 addrAT(u32 base, int m0, int k0, int l) {
  return base + swz<COLS>(k0 + (l & 7) + ((l >> 4) << 3), (m0 >> 3) + ((l >> 3) & 1));
}
// B for two n-tiles (n0..n0+15) x k0..k0+15 from [n][k] storage (non-trans): r[0..1] tile n0, r[2..3] tile n0+8
template <int COLS> static __device__ __forceinline__ u32 addrB(u32 base, int n0, int k0, int l) {
  return base + swz<COLS>(n0 + (l & 7) + ((l >> 4) << 3), (k0 >> 3) + ((l >> 3) & 1));
}
// B for two n-tiles from [k][n] storage (trans)
template <int COLS> static __device__ __forceinline__ u32 addrBT(u32 base, int n0, int k0, int l) {
  return base + swz<COLS>(k0 + (l & 7) + (((l >> 3) & 1) << 3), (n0 >> 3) + (l >> 4));
}

// Copies ROWS rows (rows at and past rEnd zero-filled) of CHUNKS 16-byte chunks each from a strided bf16
// matrix (row r at g + r * rowStride) into a swizzled COLS-wide tile, NTHR threads cooperating.
template <int COLS, int ROWS, int CHUNKS, int NTHR>
static __device__ __forceinline__ void load_rows(u32 sbase, const bf16* g, long long rowStride, int rEnd, int tid) {
  constexpr int TOTAL = ROWS * CHUNKS;
#pragma unroll
  for (int it = 0; it < (TOTAL + NTHR - 1) / NTHR; ++it) {
    int idx = it * NTHR + tid;
    if (TOTAL % NTHR == 0 || idx < TOTAL) {
      int r = idx / CHUNKS, c = idx % CHUNKS;
      bool ok = r < rEnd;
      const bf16* src = ok ? g + (long long)r * rowStride + c * 8 : g;
      cp_async16(sbase + swz<COLS>(r, c), src, ok ? 16 : 0);
    }
  }
}

static __device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
static __device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}
