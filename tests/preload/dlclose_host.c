/* This file contains a host that loads a plugin linked with libtslab.so
 * (dlclose_plugin.c), calls it on a thread of its own, unloads it with dlclose,
 * and only then lets that thread exit. The thread's exit runs tslab's per-thread
 * cleanup (registered with pthread_key_create): the library must still be
 * there. It is marked NODELETE (-z nodelete), as an allocator whose blocks and
 * thread state may outlive the code that loaded it must be.
 *
 *   dlclose_host PLUGIN    prints "dlclose_host: ok" and exits 0 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

static int (*plugin_work)(void);
static atomic_int worked, may_exit;

static void* worker(void* arg) {
  (void)arg;
  atomic_store(&worked, plugin_work() ? 1 : -1);
  while (!atomic_load(&may_exit)) sched_yield();
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: dlclose_host PLUGIN\n");
    return 2;
  }
  void* plugin = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (plugin == NULL) {
    fprintf(stderr, "dlclose_host: %s\n", dlerror());
    return 1;
  }
  int (*init)(void) = (int (*)(void))dlsym(plugin, "plugin_init");
  void (*fini)(void) = (void (*)(void))dlsym(plugin, "plugin_fini");
  plugin_work = (int (*)(void))dlsym(plugin, "plugin_work");
  if (init == NULL || fini == NULL || plugin_work == NULL || !init()) {
    fprintf(stderr, "dlclose_host: the plugin did not start\n");
    return 1;
  }
  pthread_t thread;
  if (pthread_create(&thread, NULL, worker, NULL) != 0) return 1;
  while (atomic_load(&worked) == 0) sched_yield();
  fini();
  if (dlclose(plugin) != 0) {
    fprintf(stderr, "dlclose_host: %s\n", dlerror());
    return 1;
  }
  atomic_store(&may_exit, 1);  // the thread's exit runs tslab's thread cleanup
  pthread_join(thread, NULL);
  if (atomic_load(&worked) != 1) {
    fprintf(stderr, "dlclose_host: the plugin's allocations failed\n");
    return 1;
  }
  puts("dlclose_host: ok");
  return 0;
}
