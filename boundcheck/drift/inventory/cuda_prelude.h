// Included before every flashinfer source the 32-bit inventory parses (libclang in C++
// mode: the libclang wheel ships no CUDA wrapper headers). It declares what nvcc provides
// implicitly, with the types nvcc gives them, so that expressions over blockIdx and the
// warp intrinsics keep their types instead of becoming parse errors. Only declarations:
// nothing here is evaluated.
#pragma once
#include <cuda_runtime.h>
#include <stdint.h>

// Kernel attributes that nvcc's host_defines.h spells only for CUDA compilers: empty here,
// or every kernel declared with them would be a parse error and its body lost.
#undef __launch_bounds__
#define __launch_bounds__(...)
#undef __cluster_dims__
#define __cluster_dims__(...)
#undef __maxnreg__
#define __maxnreg__(...)
#undef __grid_constant__
#define __grid_constant__

extern const uint3 threadIdx;
extern const uint3 blockIdx;
extern const dim3 blockDim;
extern const dim3 gridDim;
extern const int warpSize;

void __syncthreads();
int __syncthreads_count(int);
int __syncthreads_or(int);
int __syncthreads_and(int);
void __syncwarp(unsigned = 0xffffffffu);
void __threadfence();
void __threadfence_block();
void __nanosleep(unsigned);
unsigned __ballot_sync(unsigned, int);
int __any_sync(unsigned, int);
int __all_sync(unsigned, int);
unsigned __activemask();
unsigned __match_any_sync(unsigned, unsigned);
template <class T> T __shfl_sync(unsigned, T, int, int = 32);
template <class T> T __shfl_xor_sync(unsigned, T, int, int = 32);
template <class T> T __shfl_up_sync(unsigned, T, unsigned, int = 32);
template <class T> T __shfl_down_sync(unsigned, T, unsigned, int = 32);
template <class T> T __reduce_add_sync(unsigned, T);
template <class T> T __reduce_max_sync(unsigned, T);
template <class T> T __reduce_min_sync(unsigned, T);
template <class T> T __reduce_or_sync(unsigned, T);
int __popc(unsigned);
int __popcll(unsigned long long);
int __clz(int);
int __clzll(long long);
int __ffs(int);
int __ffsll(long long);
unsigned __brev(unsigned);
unsigned __umulhi(unsigned, unsigned);
int __mulhi(int, int);
template <class T> T __ldg(const T*);
template <class T> T atomicAdd(T*, T);
template <class T> T atomicSub(T*, T);
template <class T> T atomicMax(T*, T);
template <class T> T atomicMin(T*, T);
template <class T> T atomicOr(T*, T);
template <class T> T atomicAnd(T*, T);
template <class T> T atomicExch(T*, T);
template <class T> T atomicCAS(T*, T, T);
void cudaGridDependencySynchronize();
void cudaTriggerProgrammaticLaunchCompletion();
// Device-only float intrinsics (device_functions.h, sm_20_intrinsics.h: only for CUDA
// compilers), with nvcc's types: a statement calling one would otherwise not parse.
float __fadd_rn(float, float);
float __fsub_rn(float, float);
float __fmul_rn(float, float);
float __fdiv_rn(float, float);
float __frcp_rn(float);
float __fsqrt_rn(float);
float __fmaf_rn(float, float, float);
float __fmaf_ieee_rn(float, float, float);
float __expf(float);
float __logf(float);
float __powf(float, float);
float __saturatef(float);
float __uint_as_float(unsigned);
unsigned __float_as_uint(float);
float __int_as_float(int);
int __float_as_int(float);
int __float2int_rn(float);
int __float2int_rd(float);
int __float2int_ru(float);
int __float2int_rz(float);
unsigned __float2uint_rn(float);
float __int2float_rn(int);
float __uint2float_rn(unsigned);
// Thread-block-cluster barriers (sm_90_rt.h, CUDA compilers only).
void __cluster_barrier_arrive();
void __cluster_barrier_arrive_relaxed();
void __cluster_barrier_wait();
unsigned __cluster_relaxed_get_rank();
// The device runtime's conditional-graph call (cuda_device_runtime_api.h, CUDA compilers only).
void cudaGraphSetConditional(cudaGraphConditionalHandle, unsigned);
// cutlass/arch/arch.h defines these only for CUDA compilers (__NVCC__ or clang's CUDA mode).
namespace cutlass {
namespace arch {
int LaneId();
int SmId();
}  // namespace arch
}  // namespace cutlass
// Where a kernel launch's `<<<grid, block, smem, stream>>>` went (front_end.rewrite_launches).
template <class... Config> void __bc_launch(Config const&...);
// math_functions.hpp's integer and floating min/max, every overload it declares (device
// code calls them unqualified; uint64_t is `unsigned long` here, as with nvcc on Linux).
int min(int, int);
unsigned min(unsigned, unsigned);
unsigned min(int, unsigned);
unsigned min(unsigned, int);
long min(long, long);
unsigned long min(unsigned long, unsigned long);
unsigned long min(long, unsigned long);
unsigned long min(unsigned long, long);
long long min(long long, long long);
unsigned long long min(unsigned long long, unsigned long long);
unsigned long long min(long long, unsigned long long);
unsigned long long min(unsigned long long, long long);
float min(float, float);
double min(double, double);
double min(float, double);
double min(double, float);
int max(int, int);
unsigned max(unsigned, unsigned);
unsigned max(int, unsigned);
unsigned max(unsigned, int);
long max(long, long);
unsigned long max(unsigned long, unsigned long);
unsigned long max(long, unsigned long);
unsigned long max(unsigned long, long);
long long max(long long, long long);
unsigned long long max(unsigned long long, unsigned long long);
unsigned long long max(long long, unsigned long long);
unsigned long long max(unsigned long long, long long);
float max(float, float);
double max(double, double);
double max(float, double);
double max(double, float);

// cooperative_groups.h declares nothing without __CUDACC__: the parts flashinfer's routing
// kernels use, with their return types, so that code over a warp tile keeps its types.
namespace cooperative_groups {
struct thread_group {
  unsigned thread_rank() const;
  unsigned size() const;
  unsigned num_threads() const;
  void sync() const;
};
// thread_block's and cluster_group's members are static in cooperative_groups.h (called
// as `cg::cluster_group::map_shared_rank(...)`).
struct thread_block : thread_group {
  static dim3 group_index();
  static dim3 thread_index();
  static unsigned thread_rank();
  static unsigned size();
  static unsigned num_threads();
  static void sync();
};
struct grid_group : thread_group {
  unsigned long long block_rank() const;
};
struct cluster_group : thread_group {
  static unsigned block_rank();
  static unsigned num_blocks();
  static dim3 block_index();
  static unsigned thread_rank();
  static void sync();
  template <class T> static T* map_shared_rank(T*, unsigned);
};
// As in cooperative_groups.h: the tile of a known parent derives from the parent-less tile
// that device functions take (`thread_block_tile<32> const&`).
template <unsigned N, class P = void>
struct thread_block_tile;
template <unsigned N>
struct thread_block_tile<N, void> : thread_group {
  unsigned meta_group_rank() const;
  unsigned meta_group_size() const;
  template <class T> T shfl(T, int) const;
  template <class T> T shfl_xor(T, int) const;
  template <class T> T shfl_up(T, unsigned) const;
  template <class T> T shfl_down(T, unsigned) const;
  unsigned ballot(int) const;
  int any(int) const;
  int all(int) const;
};
template <unsigned N, class P>
struct thread_block_tile : thread_block_tile<N, void> {};
template <class G> void sync(const G&);
thread_block this_thread_block();
grid_group this_grid();
cluster_group this_cluster();
template <unsigned N, class P> thread_block_tile<N, P> tiled_partition(const P&);
template <class T> struct plus { T operator()(T, T) const; };
template <class T> struct greater { T operator()(T, T) const; };
template <class T> struct less { T operator()(T, T) const; };
template <class T> struct bit_or { T operator()(T, T) const; };
template <class G, class T, class Op> T reduce(const G&, T, Op);
template <class G, class T, class Op> T inclusive_scan(const G&, T, Op);
template <class G, class T> T inclusive_scan(const G&, T);
template <class G, class T, class Op> T exclusive_scan(const G&, T, Op);
template <class G, class T> T exclusive_scan(const G&, T);
}  // namespace cooperative_groups

// TensorRT-LLM's check and log macros, where their header is not shipped: the arguments
// stay expressions (typed, and read by the inventory), nothing else.
#define TLLM_CHECK(...) ((void)(__VA_ARGS__))
#define TLLM_CHECK_WITH_INFO(...) ((void)(__VA_ARGS__))
#define TLLM_CHECK_ERROR(...) ((void)(__VA_ARGS__))
#define TLLM_CUDA_CHECK(...) ((void)(__VA_ARGS__))
#define TLLM_LOG_WARNING(...) ((void)(__VA_ARGS__))
#define TLLM_LOG_ERROR(...) ((void)(__VA_ARGS__))
#define TLLM_LOG_INFO(...) ((void)(__VA_ARGS__))
#define TLLM_LOG_DEBUG(...) ((void)(__VA_ARGS__))
#define TLLM_THROW(...) ((void)(__VA_ARGS__))

// cuda_runtime.h's C++ overloads taking a kernel (declared only for CUDA compilers).
template <class T> cudaError_t cudaFuncSetAttribute(T*, cudaFuncAttribute, int);
template <class T> cudaError_t cudaFuncGetAttributes(cudaFuncAttributes*, T*);
template <class T> cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int*, T, int, size_t);
template <class... Params, class... Args>
cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t*, void (*)(Params...), Args&&...);
