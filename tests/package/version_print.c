/* This file contains the program of the version test: it checks the generated
 * header's macros against each other and against tslab_version() of the
 * library it is linked with (the shared one), then prints the version for
 * version_test.sh to compare with the project's. */
#include <stdio.h>
#include <string.h>
#include <tslab/version.h>

int main(void) {
  char parts[64];
  snprintf(parts, sizeof parts, "%d.%d.%d", TSLAB_VERSION_MAJOR, TSLAB_VERSION_MINOR, TSLAB_VERSION_PATCH);
  if (strcmp(parts, TSLAB_VERSION_STRING) != 0) {
    fprintf(stderr, "TSLAB_VERSION_STRING \"%s\" is not MAJOR.MINOR.PATCH (%s)\n", TSLAB_VERSION_STRING,
            parts);
    return 1;
  }
  if (TSLAB_VERSION != TSLAB_VERSION_MAJOR * 10000 + TSLAB_VERSION_MINOR * 100 + TSLAB_VERSION_PATCH) {
    fprintf(stderr, "TSLAB_VERSION %d is not MAJOR * 10000 + MINOR * 100 + PATCH\n", TSLAB_VERSION);
    return 1;
  }
  if (tslab_version() != TSLAB_VERSION) {
    fprintf(stderr, "tslab_version() is %d, the header says %d\n", tslab_version(), TSLAB_VERSION);
    return 1;
  }
  printf("%s %d %d\n", TSLAB_VERSION_STRING, TSLAB_VERSION, tslab_version());
  return 0;
}
