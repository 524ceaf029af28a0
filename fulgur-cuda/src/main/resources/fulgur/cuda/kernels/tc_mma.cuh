// Tensor-core building blocks shared by the chunked kernels (gla.cu): mma.sync m16n8k16 (bf16 in, f32
// accumulate), ldmatrix from XOR-swizzled shared tiles, cp.async with zero fill, bf16 pair packing.
// Fragment layouts (PTX ISA, mma.m16n8k16, g = lane / 4, t4 = lane % 4):
//   A (16 x 16, row-major): a0 = (row g, cols 2t4, 2t4+1), a1 = (row g+8, same cols), a2 = (row g, cols +8),
//                           a3 = (row g+8, cols +8)
//   B (16 x 8, k x n):      b0 = (k rows 2t4, 2t4+1, col g), b1 = (k rows 2t4+8, 2t4+9, col g)
//   C (16 x 8):             c0, c1 = (row g, cols 2t4, 2t4+1), c2, c3 = (row g+8, same cols)
#ifndef FULGUR_TC_MMA
#define FULGUR_TC_MMA
#include <cuda_bf16.h>

typedef __nv_bfloat16 bf16;
typedef unsigned int u32;

static __device__ __forceinline__ u32 smem_u32(const void* p) { return (u32)__cvta_generic_to_shared(p); }

// Byte offset of 16-byte chunk c of row r in a row-major bf16 tile of COLS (64 or 128) columns,
// XOR-swizzled so that 8 consecutive rows of one chunk column fall in 8 different bank groups.
template <int COLS>
static __device__ __forceinline__ u32 swz(int r, int c) {
  static_assert(COLS >= 64, "swizzled tiles are 64 or 128 columns wide");
  return (u32)(r * COLS * 2 + ((c ^ (r & 7)) << 4));
}

// Byte offset of element (r, c) of a swizzled tile.
template <int COLS>
static __device__ __forceinline__ u32 swz_el(int r, int c) { return swz<COLS>(r, c >> 3) + (c & 7) * 2; }

static __device__ __forceinline__ void cp_async16(u32 dst, const void* src, int bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
static __device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
static __device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }

static __device__ __forceinline__ void ldsm4(u32* r, u32 addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
static __device__ __forceinline__ void ldsm4t(u32* r, u32 addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(addr));
}
static __device__ __forceinline__ void mma16816(float* c, const u32* a, u32 b0, u32 b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
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
// (lo * f0, hi * f1) of a bf16 pair
static __device__ __forceinline__ u32 scale_bf16x2(u32 x, float f0, float f1) {
  float2 f = unpack_bf16(x);
  return pack_bf16(f.x * f0, f.y * f1);
}
// the pair (x, y) as bf16 hi = bf16(x, y) and lo = bf16(x - hi, y - hi): hi + lo carries ~16 bits
static __device__ __forceinline__ void split_bf16x2(float x, float y, u32& hi, u32& lo) {
  hi = pack_bf16(x, y);
  const float2 h = unpack_bf16(hi);
  lo = pack_bf16(x - h.x, y - h.y);
}
// stores the pair at byte offset off of tile hi and, when lo is not null, its low half at the same offset of lo
static __device__ __forceinline__ void store_split(char* hi, char* lo, u32 off, float x, float y) {
  u32 h, l;
  split_bf16x2(x, y, h, l);
  *reinterpret_cast<u32*>(hi + off) = h;
  if (lo) *reinterpret_cast<u32*>(lo + off) = l;
}
// 2^x on the special-function unit (relative error ~2^-22; 0 for very negative x)
static __device__ __forceinline__ float ex2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
// stores the pair (r, c), (r, c+1) (c even) of a swizzled COLS-wide tile
template <int COLS>
static __device__ __forceinline__ void st_pair(char* tile, int r, int c, float x, float y) {
  *reinterpret_cast<u32*>(tile + swz_el<COLS>(r, c)) = pack_bf16(x, y);
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
// B for two n-tiles (n0..n0+15) x k0..k0+15 from [n][k] storage (non-trans): regs 0,1 = n-tile n0, 2,3 = n0+8
template <int COLS> static __device__ __forceinline__ u32 addrB(u32 base, int n0, int k0, int l) {
  return base + swz<COLS>(n0 + (l & 7) + ((l >> 4) << 3), (k0 >> 3) + ((l >> 3) & 1));
}
// B for two n-tiles from [k][n] storage (trans)
template <int COLS> static __device__ __forceinline__ u32 addrBT(u32 base, int n0, int k0, int l) {
  return base + swz<COLS>(k0 + (l & 7) + (((l >> 3) & 1) << 3), (n0 >> 3) + (l >> 4));
}
#endif
