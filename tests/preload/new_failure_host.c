/* This file contains a C program that loads a C++ plugin with dlopen
 * (RTLD_LOCAL) and runs its checks, which must all pass (7): under
 * LD_PRELOAD=libtslab-malloc.so its operator new failures (new_failure_plugin.cpp:
 * a C++ runtime loaded after the library is still the one that throws), and,
 * linked with libtslab.so as late_runtime_host, the library's RTTI
 * (rtti_plugin.cpp).
 *
 *   new_failure_host PLUGIN.so   prints "new_failure_host: ok" */
#include <dlfcn.h>
#include <stdio.h>
#ifdef HOST_LINKS_TSLAB
#include "slab_alloc.h"
#endif

int main(int argc, char** argv) {
  if (argc != 2) return 2;
#ifdef HOST_LINKS_TSLAB
  /* The library is loaded, and used, before any C++ runtime. */
  SlabAllocator* alloc = slab_allocator_create();
  if (alloc == NULL) return 1;
  slab_allocator_free(alloc);
#endif
  void* plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (plugin == NULL) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  int (*run)(void) = (int (*)(void))dlsym(plugin, "plugin_run");
  const int passed = run != NULL ? run() : 0;
  if (passed != 7) {
    fprintf(stderr, "FAIL plugin_run: %d of 7 checks passed (a bit each)\n", passed);
    return 1;
  }
  puts("new_failure_host: ok");
  return 0;
}
