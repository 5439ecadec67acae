/* This file contains a C program that loads a C++ plugin with dlopen
 * (RTLD_LOCAL) under LD_PRELOAD=libtslab-malloc.so and runs its operator new
 * failures (new_failure_plugin.cpp): a C++ runtime loaded after the library is
 * still the one that throws.
 *
 *   new_failure_host PLUGIN.so   prints "new_failure_host: ok" */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  void* plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (plugin == NULL) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    return 1;
  }
  int (*run)(void) = (int (*)(void))dlsym(plugin, "plugin_run");
  const int passed = run != NULL ? run() : 0;
  if (passed != 7) {
    fprintf(stderr, "FAIL plugin_run: %d of 7 (1 caught, 2 new-handler, 4 nothrow)\n", passed);
    return 1;
  }
  puts("new_failure_host: ok");
  return 0;
}
