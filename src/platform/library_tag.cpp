// This file contains the definition of this copy of tslab's tag (library_tag.h).
#include "platform/library_tag.h"

namespace tslab::detail {

const char g_library_tag = 0;

}  // namespace tslab::detail
