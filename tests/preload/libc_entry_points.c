// This file contains a program, run under the preload, that allocates and frees
// through the C library's second names of the malloc family (__libc_malloc,
// __libc_free, ... and the old cfree), which some programs and libraries call
// directly: every block must come from tslab, and a block from either name must
// be freed by the other. Run with TSLAB_BAD_FREE=abort, a free that tslab does
// not recognise aborts, as the C library's free of a block it did not make does.
// Prints "libc_entry_points: ok" or what failed; exits 1 on failure.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slab_alloc.h"

// The C library's exported second names (glibc, GLIBC_2.2.5); not declared by its headers.
void* __libc_malloc(size_t size);
void* __libc_calloc(size_t count, size_t size);
void* __libc_realloc(void* p, size_t size);
void __libc_free(void* p);
void* __libc_memalign(size_t alignment, size_t size);
void* __libc_valloc(size_t size);
void* __libc_pvalloc(size_t size);
// cfree is in the C library only as an old version (GLIBC_2.2.5), which no
// program links against today: referenced the way a binary linked against an
// older one references it, it binds to the preload's cfree, if it has one, or
// else to the C library's free.
__asm__(".symver cfree,cfree@GLIBC_2.2.5");
void cfree(void* p);

// libtslab-malloc.so's, present only under the preload.
SlabAllocator* tslab_malloc_allocator(void) __attribute__((weak));
size_t slab_usable_size(SlabAllocator* alloc, const void* ptr) __attribute__((weak));

static int failures = 0;

static void check(int ok, const char* what) {
  if (!ok) {
    printf("libc_entry_points: FAIL %s\n", what);
    ++failures;
  }
}

// The block is tslab's, with at least `size` usable bytes, written whole.
static void tslab_block(void* p, size_t size, const char* what) {
  check(p != NULL, what);
  if (p == NULL) return;
  check(slab_usable_size(tslab_malloc_allocator(), p) >= size, what);
  memset(p, 0x5a, size);
}

int main(void) {
  if (tslab_malloc_allocator == NULL || slab_usable_size == NULL || tslab_malloc_allocator() == NULL) {
    printf("libc_entry_points: FAIL not run under the preload of libtslab-malloc.so\n");
    return 1;
  }
  const size_t sizes[] = {1, 100, 4096, 70000, 5u << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; ++i) {
    const size_t n = sizes[i];
    void* a = __libc_malloc(n);
    tslab_block(a, n, "__libc_malloc's block");
    free(a);

    void* b = malloc(n);
    tslab_block(b, n, "malloc's block");
    __libc_free(b);

    unsigned char* c = __libc_calloc(n, 1);
    check(c != NULL, "__libc_calloc returned NULL");
    if (c != NULL) {
      int zero = 1;
      for (size_t k = 0; k < n; ++k) zero &= c[k] == 0;
      check(zero, "__libc_calloc's block is not zeroed");
    }
    tslab_block(c, n, "__libc_calloc's block");

    unsigned char* d = __libc_realloc(c, 2 * n);
    tslab_block(d, 2 * n, "__libc_realloc's block");
    check(d == NULL || (d[0] == 0x5a && d[n - 1] == 0x5a), "__libc_realloc lost the contents");
    cfree(d);

    void* e = __libc_memalign(4096, n);
    tslab_block(e, n, "__libc_memalign's block");
    check(((uintptr_t)e & 4095) == 0, "__libc_memalign's block is misaligned");
    __libc_free(e);

    void* f = __libc_valloc(n);
    tslab_block(f, n, "__libc_valloc's block");
    check(((uintptr_t)f & 4095) == 0, "__libc_valloc's block is misaligned");
    free(f);

    void* g = __libc_pvalloc(n);
    tslab_block(g, (n + 4095) & ~(size_t)4095, "__libc_pvalloc's block");
    check(((uintptr_t)g & 4095) == 0, "__libc_pvalloc's block is misaligned");
    __libc_free(g);
  }
  __libc_free(NULL);
  cfree(NULL);
  check(__libc_realloc(NULL, 10) != NULL, "__libc_realloc(NULL, 10) returned NULL");
  if (failures != 0) return 1;
  printf("libc_entry_points: ok\n");
  return 0;
}
