// This file contains the tag that tells one copy of tslab from another in the
// same process. Each shared library (libtslab.so, libtslab-malloc.so) and each
// program linked with the static library holds a whole tslab, with its own
// segment map, handle registry, thread records and record pools; a process may
// hold two (a program linked with libtslab.so, libtslab-malloc.so preloaded), and
// a function of one can be handed an object the other made (an FFI or dlsym
// finds the preload's function first). An allocator or arena keeps the address
// of its copy's tag, and a copy serves only those with its own
// (AllocatorCore::alive, ArenaCore::alive; an epoch domain's identity mixes it in).
#ifndef TSLAB_PLATFORM_LIBRARY_TAG_H
#define TSLAB_PLATFORM_LIBRARY_TAG_H

namespace tslab::detail {

// Never read: only its address matters, one per copy. Hidden, so that a
// shared object built from the static library keeps its own.
[[gnu::visibility("hidden")]] extern const char g_library_tag;

}  // namespace tslab::detail

#endif  // TSLAB_PLATFORM_LIBRARY_TAG_H
