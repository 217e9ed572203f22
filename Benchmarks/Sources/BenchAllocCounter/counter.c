// A malloc counter for the benchmark process that links it (BenchPostgresWire): the program's
// own definitions of the allocation functions take precedence over glibc's for every caller (the
// Swift runtime, Foundation, the driver, glibc itself), count the call with one relaxed atomic
// add and forward to glibc's allocator through its exported __libc_* entry points (no dlsym, so
// no bootstrap problem: dlsym itself allocates). free is not replaced: every block still comes
// from glibc's malloc. A realloc counts as one call whether or not it moves the block.
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include "BenchAllocCounter.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static uint64_t bench_allocation_count;

#define COUNT() __atomic_fetch_add(&bench_allocation_count, 1, __ATOMIC_RELAXED)

uint64_t bench_allocations(void) { return __atomic_load_n(&bench_allocation_count, __ATOMIC_RELAXED); }

void *malloc(size_t size) {
    COUNT();
    return __libc_malloc(size);
}

void *calloc(size_t count, size_t size) {
    COUNT();
    return __libc_calloc(count, size);
}

void *realloc(void *pointer, size_t size) {
    COUNT();
    return __libc_realloc(pointer, size);
}

void *memalign(size_t alignment, size_t size) {
    COUNT();
    return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size) {
    COUNT();
    return __libc_memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size) {
    if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0) return EINVAL;
    COUNT();
    void *p = __libc_memalign(alignment, size);
    if (p == NULL) return ENOMEM;
    *out = p;
    return 0;
}
