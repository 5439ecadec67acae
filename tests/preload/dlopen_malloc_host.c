/* This file contains a host, neither linked with tslab nor run under its
 * preload, that loads libtslab-malloc.so with dlopen, as ctypes or a plugin
 * system does, and then a plugin linked with it (dlopen_malloc_plugin.c). Both
 * loads need the library's initial-exec thread-local storage to fit in the
 * C library's reserve for libraries loaded later.
 *
 *   dlopen_malloc_host LIBRARY PLUGIN    prints "dlopen_malloc_host: ok", exits 0 */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: dlopen_malloc_host LIBRARY PLUGIN\n");
    return 2;
  }
  void* library = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    fprintf(stderr, "dlopen_malloc_host: %s\n", dlerror());
    return 1;
  }
  uint32_t (*begin)(const char*) = (uint32_t(*)(const char*))dlsym(library, "tslab_scope_begin");
  bool (*end)(void) = (bool (*)(void))dlsym(library, "tslab_scope_end");
  if (begin == NULL || end == NULL) {
    fprintf(stderr, "dlopen_malloc_host: the scope calls are missing\n");
    return 1;
  }
  begin("host");
  if (!end() || end()) {
    fprintf(stderr, "dlopen_malloc_host: a scope did not end exactly once\n");
    return 1;
  }
  void* plugin = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
  if (plugin == NULL) {
    fprintf(stderr, "dlopen_malloc_host: %s\n", dlerror());
    return 1;
  }
  int (*run)(void) = (int (*)(void))dlsym(plugin, "plugin_run");
  if (run == NULL || !run()) {
    fprintf(stderr, "dlopen_malloc_host: the plugin's calls failed\n");
    return 1;
  }
  puts("dlopen_malloc_host: ok");
  return 0;
}
