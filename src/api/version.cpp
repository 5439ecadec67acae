// This file contains tslab_version() (tslab/version.h): the version this
// library was built as.
#include "tslab/version.h"

extern "C" int tslab_version(void) { return TSLAB_VERSION; }
