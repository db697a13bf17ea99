#pragma once
// Includes the x86 intrinsics headers with GCC 12's false -W(maybe-)uninitialized silenced:
// _mm512_undefined_ps() is written `__m512 __Y = __Y;` (GCC PR 105593, fixed in 12.3/13), and
// every inlined use (Eigen's AVX-512 GEMM packing, xsimd swizzles) then warns under -Wall.
// core/tensor.hpp includes it first, so every gradattr header gets it before Eigen.
// The pragma must be active where immintrin.h is first parsed, so the fast kernel headers
// include this one before anything else.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12 && (defined(__x86_64__) || defined(__i386__))
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#endif
