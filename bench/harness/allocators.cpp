// This file contains the preloaded libraries, the live-allocator check and the
// purge calls of the allocators measured through malloc.
#include "allocators.hpp"

#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>

#include "common.hpp"
#include "stats.hpp"

#ifndef TSLAB_BENCH_MIMALLOC_SO
#define TSLAB_BENCH_MIMALLOC_SO "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2"
#endif
#ifndef TSLAB_BENCH_JEMALLOC_SO
#define TSLAB_BENCH_JEMALLOC_SO "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
#endif
#ifndef TSLAB_BENCH_TCMALLOC_SO
#define TSLAB_BENCH_TCMALLOC_SO "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4"
#endif
// libtslab-malloc.so of the same build (CMake passes $<TARGET_FILE:tslab_malloc>),
// and where an installed `tslab` finds the one installed with it (relative to
// the binary's directory; preferred when it exists).
#ifndef TSLAB_BENCH_TSLAB_MALLOC_SO
#define TSLAB_BENCH_TSLAB_MALLOC_SO ""
#endif
#ifndef TSLAB_BENCH_INSTALLED_TSLAB_MALLOC_SO
#define TSLAB_BENCH_INSTALLED_TSLAB_MALLOC_SO ""
#endif

namespace bench {

const std::vector<std::string>& all_allocators() {
  static const std::vector<std::string> names = {"tslab", "tslab-handle", "tslab-epochs", "tslab-malloc",
                                                 "glibc", "mimalloc",     "jemalloc",     "tcmalloc"};
  return names;
}

bool is_known_allocator(const std::string& name) {
  for (const auto& n : all_allocators())
    if (n == name) return true;
  return false;
}

bool is_tslab_variant(const std::string& name) {
  return name == "tslab" || name == "tslab-handle" || name == "tslab-epochs";
}

bool is_peer(const std::string& name) {
  return name == "glibc" || name == "mimalloc" || name == "jemalloc" || name == "tcmalloc";
}

bool uses_malloc_api(const std::string& name) { return is_peer(name) || name == "tslab-malloc"; }

bool tslab_built_in() {
#ifdef TSLAB_BENCH_HAVE_TSLAB
  return true;
#else
  return false;
#endif
}

std::string preload_override_variable(const std::string& name) {
  if (name == "mimalloc") return "TSLAB_BENCH_MIMALLOC_SO";
  if (name == "jemalloc") return "TSLAB_BENCH_JEMALLOC_SO";
  if (name == "tcmalloc") return "TSLAB_BENCH_TCMALLOC_SO";
  if (name == "tslab-malloc") return "TSLAB_BENCH_TSLAB_MALLOC_SO";
  return {};
}

std::string preload_library(const std::string& name) {
  // An environment override (TSLAB_BENCH_MIMALLOC_SO, ...) wins over the built-in path.
  const std::string variable = preload_override_variable(name);
  if (variable.empty()) return {};
  if (const char* v = std::getenv(variable.c_str()); v != nullptr && *v != '\0') return v;
  if (name == "mimalloc") return TSLAB_BENCH_MIMALLOC_SO;
  if (name == "jemalloc") return TSLAB_BENCH_JEMALLOC_SO;
  if (name == "tcmalloc") return TSLAB_BENCH_TCMALLOC_SO;
  if (std::string installed = installed_file(TSLAB_BENCH_INSTALLED_TSLAB_MALLOC_SO); !installed.empty())
    return installed;
  return TSLAB_BENCH_TSLAB_MALLOC_SO;
}

namespace {

std::string base_name(const char* path) {
  if (path == nullptr) return "?";
  const char* s = std::strrchr(path, '/');
  return s != nullptr ? s + 1 : path;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// Which peer, if any, a shared object's file name belongs to.
std::string family_of_object(const std::string& base) {
  if (starts_with(base, "libmimalloc")) return "mimalloc";
  if (starts_with(base, "libjemalloc")) return "jemalloc";
  if (starts_with(base, "libtcmalloc")) return "tcmalloc";
  if (starts_with(base, "libtslab-malloc")) return "tslab-malloc";
  if (starts_with(base, "libc.so") || starts_with(base, "libc-")) return "glibc";
  return "unknown (" + base + ")";
}

// tslab-malloc's answer to "is this block yours?": slab_usable_size on the
// process allocator, both looked up in the object that defines malloc (this
// binary may hold a second, static copy of tslab that must not answer).
bool tslab_malloc_owns(const std::string& object, void* block) {
  void* lib = dlopen(object.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (lib == nullptr) return false;
  auto process_allocator = reinterpret_cast<void* (*)()>(dlsym(lib, "tslab_malloc_allocator"));
  auto usable_size = reinterpret_cast<std::size_t (*)(void*, const void*)>(dlsym(lib, "slab_usable_size"));
  const bool owned =
      process_allocator != nullptr && usable_size != nullptr && usable_size(process_allocator(), block) > 0;
  dlclose(lib);
  return owned;
}

}  // namespace

bool verify_live_allocator(const std::string& expected, std::string& detail) {
  // 1. Marker symbols each peer exports and glibc does not.
  void* mi_version = dlsym(RTLD_DEFAULT, "mi_version");
  void* mallctl = dlsym(RTLD_DEFAULT, "mallctl");
  void* tc_version = dlsym(RTLD_DEFAULT, "tc_version");
  void* tc_ext = dlsym(RTLD_DEFAULT, "MallocExtension_GetAllocatedSize");
  void* tslab_marker = dlsym(RTLD_DEFAULT, "tslab_malloc_allocator");
  std::string markers;
  if (mi_version != nullptr) markers += " mi_version";
  if (mallctl != nullptr) markers += " mallctl";
  if (tc_version != nullptr || tc_ext != nullptr) markers += " tc_version/MallocExtension";
  if (tslab_marker != nullptr) markers += " tslab_malloc_allocator";
  std::string by_marker;
  int n_markers = (mi_version != nullptr) + (mallctl != nullptr) +
                  (tc_version != nullptr || tc_ext != nullptr) + (tslab_marker != nullptr);
  if (n_markers == 0)
    by_marker = "glibc";
  else if (n_markers > 1)
    by_marker = "several";
  else if (mi_version != nullptr)
    by_marker = "mimalloc";
  else if (mallctl != nullptr)
    by_marker = "jemalloc";
  else if (tslab_marker != nullptr)
    by_marker = "tslab-malloc";
  else
    by_marker = "tcmalloc";

  // 2. The object that defines the malloc this process binds to.
  void* malloc_sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info{};
  std::string object = "?";
  if (malloc_sym != nullptr && dladdr(malloc_sym, &info) != 0 && info.dli_fname != nullptr)
    object = info.dli_fname;
  std::string by_object = family_of_object(base_name(object.c_str()));

  const std::string want = is_tslab_variant(expected) ? std::string("glibc") : expected;
  if (by_marker != want || by_object != want) {
    detail = strf("expected %s, but malloc is defined in %s (%s) and marker symbols say %s [%s ]",
                  want.c_str(), object.c_str(), by_object.c_str(), by_marker.c_str(), markers.c_str());
    return false;
  }

  // 3. Ask the allocator whether it owns a fresh malloc block, and its version.
  void* probe = std::malloc(128);
  bool owned = probe != nullptr;
  std::string version;
  if (want == "mimalloc") {
    auto in_heap = reinterpret_cast<bool (*)(const void*)>(dlsym(RTLD_DEFAULT, "mi_is_in_heap_region"));
    if (in_heap != nullptr) owned = owned && in_heap(probe);
    version = strf("mimalloc %d", reinterpret_cast<int (*)()>(mi_version)());
  } else if (want == "jemalloc") {
    auto sallocx = reinterpret_cast<std::size_t (*)(const void*, int)>(dlsym(RTLD_DEFAULT, "sallocx"));
    if (sallocx != nullptr) owned = owned && sallocx(probe, 0) >= 128;
    const char* v = nullptr;
    std::size_t len = sizeof v;
    auto ctl = reinterpret_cast<int (*)(const char*, void*, std::size_t*, void*, std::size_t)>(mallctl);
    version =
        std::string("jemalloc ") + (ctl("version", &v, &len, nullptr, 0) == 0 && v != nullptr ? v : "?");
  } else if (want == "tcmalloc") {
    auto owner = reinterpret_cast<int (*)(const void*)>(dlsym(RTLD_DEFAULT, "MallocExtension_GetOwnership"));
    if (owner != nullptr) owned = owned && owner(probe) == 1;  // 1 == kOwned
    if (tc_version != nullptr) {
      int ma = 0, mi = 0;
      const char* patch = nullptr;
      reinterpret_cast<const char* (*)(int*, int*, const char**)>(tc_version)(&ma, &mi, &patch);
      version = strf("tcmalloc %d.%d%s", ma, mi, patch != nullptr ? patch : "");
    } else {
      version = "tcmalloc";
    }
  } else if (want == "tslab-malloc") {
    owned = owned && tslab_malloc_owns(object, probe);
    version = "tslab-malloc";
  } else {
    version = std::string("glibc ") + gnu_get_libc_version();
  }
  std::free(probe);
  if (!owned) {
    detail = "malloc resolves to " + want + " but it does not own a fresh malloc block";
    return false;
  }
  detail = version + " (" + object + ")";
  return true;
}

namespace {

void (*g_tc_release)() = nullptr;
int (*g_mallctl)(const char*, void*, std::size_t*, void*, std::size_t) = nullptr;
void (*g_mi_collect)(bool) = nullptr;

// glibc's, or tslab-malloc's when it is preloaded (it comes first in the lookup).
bool purge_malloc_trim() { return malloc_trim(0), true; }
bool purge_tcmalloc() { return g_tc_release(), true; }
bool purge_jemalloc() { return g_mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0) == 0; }
bool purge_mimalloc() { return g_mi_collect(true), true; }

}  // namespace

PurgeFn malloc_purge_fn(const std::string& name, std::string& error) {
  if (name == "glibc" || name == "tslab-malloc") return purge_malloc_trim;
  if (name == "tcmalloc") {
    g_tc_release = reinterpret_cast<void (*)()>(dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory"));
    if (g_tc_release != nullptr) return purge_tcmalloc;
    error = "MallocExtension_ReleaseFreeMemory not found";
  } else if (name == "jemalloc") {
    g_mallctl = reinterpret_cast<decltype(g_mallctl)>(dlsym(RTLD_DEFAULT, "mallctl"));
    if (g_mallctl != nullptr) return purge_jemalloc;
    error = "mallctl not found";
  } else if (name == "mimalloc") {
    g_mi_collect = reinterpret_cast<void (*)(bool)>(dlsym(RTLD_DEFAULT, "mi_collect"));
    if (g_mi_collect != nullptr) return purge_mimalloc;
    error = "mi_collect not found";
  } else {
    error = "no purge call for " + name;
  }
  return nullptr;
}

}  // namespace bench
