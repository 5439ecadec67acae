/* This file contains a program that uses malloc at the edges of a process's
 * life, run under LD_PRELOAD=libtslab-malloc.so by programs.sh: in a
 * constructor that runs before main (and before the C++ runtime's), in the
 * callbacks of dl_iterate_phdr and after dlopen/dlsym, in detached threads,
 * C11 threads and threads that exit with thread-specific data whose
 * destructors free and allocate again, and across fork. It checks
 * that every block is tslab's (through tslab_malloc_allocator, found with
 * dlsym, so the program itself links nothing of tslab) and that its contents
 * survive; it prints "process_life: ok" and exits 0, or says what failed. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <threads.h>
#include <unistd.h>

typedef void* (*allocator_fn)(void);
typedef size_t (*usable_fn)(void*, const void*);

static int failures;
static void* early_block;

#define CHECK(cond, what)                                             \
  do {                                                                \
    if (!(cond)) {                                                    \
      fprintf(stderr, "process_life: FAILED %s (%s)\n", what, #cond); \
      failures++;                                                     \
    }                                                                 \
  } while (0)

/* Whether `p` is a live block of the process allocator. */
static int from_tslab(const void* p) {
  allocator_fn allocator = (allocator_fn)dlsym(RTLD_DEFAULT, "tslab_malloc_allocator");
  usable_fn usable = (usable_fn)dlsym(RTLD_DEFAULT, "slab_usable_size");
  return allocator != NULL && usable != NULL && usable(allocator(), p) != 0;
}

__attribute__((constructor(101))) static void before_main(void) {
  early_block = malloc(100);
  if (early_block != NULL) memset(early_block, 7, 100);
}

static int on_object(struct dl_phdr_info* info, size_t size, void* data) {
  (void)size;
  char* copy = strdup(info->dlpi_name != NULL ? info->dlpi_name : "");
  if (copy == NULL || !from_tslab(copy)) ++*(int*)data;
  free(copy);
  return 0;
}

static pthread_key_t key;
static void key_destructor(void* value) {
  free(value);
  void* again = malloc(64); /* after the thread's own heap may be gone */
  if (again != NULL) memset(again, 1, 64);
  free(again);
}

static atomic_int detached_done;
static void* detached(void* arg) {
  (void)arg;
  for (int i = 0; i < 1000; ++i) free(malloc((size_t)(16 + i % 500)));
  pthread_setspecific(key, malloc(48));
  atomic_fetch_add(&detached_done, 1);
  return NULL;
}

static void* handed;
static int c11_thread(void* arg) {
  (void)arg;
  handed = malloc(4000);
  memset(handed, 3, 4000);
  pthread_setspecific(key, malloc(32));
  return 0;
}

int main(void) {
  CHECK(early_block != NULL && from_tslab(early_block), "malloc in a constructor before main");
  CHECK(early_block != NULL && ((unsigned char*)early_block)[99] == 7, "early block contents");
  free(early_block);

  int bad = 0;
  dl_iterate_phdr(on_object, &bad);
  CHECK(bad == 0, "malloc in dl_iterate_phdr callbacks");

  void* handle = dlopen("libm.so.6", RTLD_NOW);
  CHECK(handle != NULL, "dlopen");
  if (handle != NULL) {
    CHECK(dlsym(handle, "cos") != NULL, "dlsym");
    dlclose(handle);
  }
  char* after_dl = malloc(10);
  CHECK(from_tslab(after_dl), "malloc after dlopen");
  free(after_dl);

  CHECK(pthread_key_create(&key, key_destructor) == 0, "pthread_key_create");
  for (int i = 0; i < 32; ++i) {
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    CHECK(pthread_create(&t, &attr, detached, NULL) == 0, "detached thread");
    pthread_attr_destroy(&attr);
  }
  thrd_t c11;
  CHECK(thrd_create(&c11, c11_thread, NULL) == thrd_success, "C11 thread");
  thrd_join(c11, NULL);
  CHECK(handed != NULL && from_tslab(handed) && ((unsigned char*)handed)[3999] == 3,
        "block of an exited thread");
  free(handed); /* freed by another thread after its owner exited */
  while (atomic_load(&detached_done) < 32) usleep(1000);

  pid_t pid = fork();
  if (pid == 0) {
    char* in_child = malloc(1000);
    _exit(in_child != NULL && from_tslab(in_child) ? 0 : 1);
  }
  int status = 0;
  CHECK(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "malloc in a forked child");

  if (failures != 0) return 1;
  printf("process_life: ok\n");
  return 0;
}
