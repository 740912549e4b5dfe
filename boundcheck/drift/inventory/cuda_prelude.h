// Included before every flashinfer source the 32-bit inventory parses (libclang in C++
// mode: the libclang wheel ships no CUDA wrapper headers). It declares what nvcc provides
// implicitly, with the types nvcc gives them, so that expressions over blockIdx and the
// warp intrinsics keep their types instead of becoming parse errors. Only declarations:
// nothing here is evaluated.
#pragma once
#include <cuda_runtime.h>
#include <stdint.h>

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
// Where a kernel launch's `<<<grid, block, smem, stream>>>` went (front_end.rewrite_launches).
template <class... Config> void __bc_launch(Config const&...);
// math_functions.hpp's integer and floating min/max (device code calls them unqualified).
int min(int, int);
unsigned min(unsigned, unsigned);
unsigned min(int, unsigned);
unsigned min(unsigned, int);
long long min(long long, long long);
unsigned long long min(unsigned long long, unsigned long long);
float min(float, float);
double min(double, double);
int max(int, int);
unsigned max(unsigned, unsigned);
unsigned max(int, unsigned);
unsigned max(unsigned, int);
long long max(long long, long long);
unsigned long long max(unsigned long long, unsigned long long);
float max(float, float);
double max(double, double);
