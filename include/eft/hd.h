#pragma once
// EFT_HD marks small inline helpers (mask predicates, KV addressing) that CPU code and CUDA kernels
// share, so a mask has one definition on every backend.
#if defined(__CUDACC__)
#define EFT_HD __host__ __device__ __forceinline__
#else
#define EFT_HD inline
#endif
