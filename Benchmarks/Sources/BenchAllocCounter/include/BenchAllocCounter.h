#ifndef BENCH_ALLOC_COUNTER_H
#define BENCH_ALLOC_COUNTER_H
#include <stdint.h>

/// The number of allocator calls (malloc, calloc, realloc, memalign, aligned_alloc,
/// posix_memalign) made by every thread of this process so far.
uint64_t bench_allocations(void);

#endif
