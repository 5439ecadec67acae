/* This file contains the host of own_names_lib.c: run under
 * LD_PRELOAD=libtslab-malloc.so, its library's calls to functions named as
 * tslab's seed API reach the library's own. Before, the preload exported those
 * names, so the library's now_ns returned tslab's clock and its free_obj took
 * the library's struct for an allocator and crashed. */
#include <stdio.h>
#include <stdlib.h>

int own_names_wrong(void);

int main(void) {
  void* p = malloc(64); /* served by the preload */
  const int wrong = own_names_wrong();
  free(p);
  if (wrong != 0) {
    printf("own_names: %d calls reached another library's function\n", wrong);
    return 1;
  }
  printf("own_names: ok\n");
  return 0;
}
