/* The float32 compute peak of one core: 12 independent chains of AVX-512 FMAs.
 *
 *   gcc -O3 -march=native bench/native/fma_peak.c -o /tmp/fma_peak && /tmp/fma_peak
 *
 * Not built or run by gradlab; it backs the peak figure quoted in the README ("gradlab
 * bench"), which the benchmark's own floor (a large sgemm) is compared against. Needs a
 * CPU with AVX-512F. Each chain depends only on itself, so the loop is bound by FMA
 * throughput, not latency (12 chains > 2 FMA units x 4 cycles of latency). */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

int main(void) {
    enum { CHAINS = 12 };
    const long iterations = 200000000L;
    __m512 acc[CHAINS];
    const __m512 mul = _mm512_set1_ps(1.0000001f), add = _mm512_set1_ps(0.999999f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long k = 0; k < iterations; k++)
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], mul, add);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    float sink = 0.0f; /* keeps the loop from being optimised away */
    for (int i = 0; i < CHAINS; i++) sink += _mm512_reduce_add_ps(acc[i]);
    /* 16 lanes x 2 FLOPs (multiply and add) per FMA */
    printf("%.1f GFLOP/s float32 on one core (checksum %g)\n",
           (double)iterations * CHAINS * 32.0 / seconds / 1e9, (double)sink);
    return 0;
}
