// A malloc counter for the benchmark process that links it (BenchPostgresWire): the program's
// own definitions of the allocation functions take precedence over glibc's for every caller (the
// Swift runtime, Foundation, the driver, glibc itself); each counts the call and forwards to
// glibc's allocator through its exported __libc_* entry points (no dlsym, so no bootstrap
// problem: dlsym itself allocates). free is not replaced: every block still comes from glibc's
// malloc. A realloc counts as one call whether or not it moves the block.
//
// Counting must not change what is measured: each thread counts in a cache line of its own
// (a plain add, no lock prefix, no line bouncing between cores as one shared atomic counter
// would do under W6's 64 threads); the total is the sum of the slots. A thread's slot is never
// reused, so the counts of exited threads stay in the total. Past SLOTS threads, one shared
// atomic counter takes the rest.
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include "BenchAllocCounter.h"

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t count, size_t size);
extern void *__libc_realloc(void *pointer, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

enum { SLOTS = 8192 };
static struct { uint64_t n; char pad[56]; } __attribute__((aligned(64))) slots[SLOTS];
static uint32_t next_slot;
static uint64_t overflow;
static __thread uint32_t my_slot __attribute__((tls_model("initial-exec")));  // slot index + 1; 0: none yet

static inline void COUNT(void) {
    uint32_t s = my_slot;
    if (__builtin_expect(s == 0, 0)) {
        s = __atomic_fetch_add(&next_slot, 1, __ATOMIC_RELAXED) + 1;
        my_slot = s;
    }
    if (__builtin_expect(s <= SLOTS, 1)) {
        uint64_t *n = &slots[s - 1].n;
        __atomic_store_n(n, __atomic_load_n(n, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
    } else {
        __atomic_fetch_add(&overflow, 1, __ATOMIC_RELAXED);
    }
}

uint64_t bench_allocations(void) {
    uint32_t used = __atomic_load_n(&next_slot, __ATOMIC_RELAXED);
    if (used > SLOTS) used = SLOTS;
    uint64_t total = __atomic_load_n(&overflow, __ATOMIC_RELAXED);
    for (uint32_t i = 0; i < used; i++) total += __atomic_load_n(&slots[i].n, __ATOMIC_RELAXED);
    return total;
}

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
