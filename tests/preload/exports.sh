#!/usr/bin/env bash
# This file contains the test of what the shared libraries export: the public
# C API (slab_*, tslab_*, and in libtslab.so the seed API's epoch_*, alloc_obj*,
# free_obj and utilities) and the C++ API in namespace tslab, never an internal
# (tslab::detail) or anything else; and libtslab-malloc.so exports the whole
# malloc family and operator new/delete, and no name outside tslab's prefixes.
# The API's names carry each library's own version (TSLAB_0, TSLAB_MALLOC_0),
# so that a preloaded libtslab-malloc.so never takes over libtslab.so's; the
# malloc family carries none, so that it replaces the C library's.
#
#   exports.sh LIBTSLAB_SO LIBTSLAB_MALLOC_SO
set -u
status=0
# Each symbol's name and version (name@@VERSION, or the name alone when
# unversioned); not the version definitions themselves (absolute, type A).
with_versions() { nm -D --defined-only --with-symbol-versions "$1" | awk '$2 != "A" {print $3}'; }
symbols() { with_versions "$1" | sed 's/@.*//' | sort -u; }

# The seed API's names outside tslab's prefixes: libtslab.so's only.
seed_names() { case "$1" in epoch_* | alloc_obj* | free_obj | get_perf_counters | now_ns | read_rss_bytes_linux) return 0 ;; esac; return 1; }

check() {
  local lib=$1 extra=$2 seed=$3
  local bad
  bad=$(symbols "$lib" | while read -r s; do
    if seed_names "$s"; then
      [ "$seed" = yes ] || echo "$s"
      continue
    fi
    case "$s" in
      slab_* | tslab_*) ;;
      _ZN5tslab6detail* | _ZNK5tslab6detail* | _Z*N5tslab6detail*) echo "$s" ;;
      _ZN5tslab* | _ZNK5tslab* | _ZTIN5tslab* | _ZTSN5tslab* | _ZTVN5tslab*) ;;
      *) if ! grep -qx -- "$s" <<<"$extra"; then echo "$s"; fi ;;
    esac
  done)
  if [ -n "$bad" ]; then
    echo "FAIL $(basename "$lib") exports what is not public API:"
    c++filt <<<"$bad" | head -40
    status=1
  else
    echo "ok   $(basename "$lib"): $(symbols "$lib" | wc -l) symbols, all public API"
  fi
}

malloc_family="malloc free calloc realloc reallocarray posix_memalign aligned_alloc memalign valloc pvalloc
malloc_usable_size free_sized free_aligned_sized malloc_trim malloc_stats mallinfo mallinfo2
__libc_malloc __libc_free __libc_calloc __libc_realloc __libc_memalign __libc_valloc __libc_pvalloc cfree"
operators=$(symbols "$2" | grep -E '^_Z(nw|na|dl|da)' || true)
check "$1" "" yes
# A preloaded library's export takes over every other library's function of
# the same name: libtslab-malloc.so exports none outside tslab's prefixes.
check "$2" "$(tr ' ' '\n' <<<"$malloc_family")
$operators" no

# Everything the override must replace is there.
for s in $malloc_family _Znwm _Znam _ZdlPv _ZdaPv _ZdlPvm _ZdaPvm _ZnwmRKSt9nothrow_t _ZnamRKSt9nothrow_t \
         _ZnwmSt11align_val_t _ZnamSt11align_val_t _ZdlPvSt11align_val_t _ZdaPvSt11align_val_t \
         _ZdlPvmSt11align_val_t _ZdaPvmSt11align_val_t _ZnwmSt11align_val_tRKSt9nothrow_t \
         _ZnamSt11align_val_tRKSt9nothrow_t _ZdlPvRKSt9nothrow_t _ZdaPvRKSt9nothrow_t \
         _ZdlPvSt11align_val_tRKSt9nothrow_t _ZdaPvSt11align_val_tRKSt9nothrow_t \
         tslab_scope_begin tslab_scope_end tslab_scope_innermost tslab_scope_end_checked tslab_malloc_allocator slab_allocator_create tslab_version \
         slab_epoch_open slab_epoch_close slab_epoch_close_era slab_epoch_advance slab_epoch_current \
         slab_epoch_domain_create slab_epoch_domain_enter slab_epoch_domain_exit slab_epoch_domain_destroy; do
  if ! symbols "$2" | grep -qx -- "$s"; then echo "FAIL $(basename "$2") does not export $s"; status=1; fi
done
# libtslab.so exports the same C API entry points (tslab_version: the version function).
for s in slab_allocator_create slab_malloc_epoch epoch_domain_create tslab_version get_perf_counters now_ns read_rss_bytes_linux; do
  if ! symbols "$1" | grep -qx -- "$s"; then echo "FAIL $(basename "$1") does not export $s"; status=1; fi
done
# libtslab-malloc.so needs no C++ runtime: a C program that preloads it loads
# only the C library beside it (no libstdc++, libm or libgcc_s). (libtslab.so,
# the C++ API's library, names libstdc++.)
for lib in "$2"; do
  needed=$(readelf -d "$lib" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  extra=$(tr ' ' '\n' <<<"$needed" | grep -vE '^(libc\.so\.6|ld-linux[-a-z0-9_.]*\.so\.[0-9]+)?$' || true)
  if [ -n "$extra" ]; then echo "FAIL $(basename "$lib") needs $extra"; status=1; else echo "ok   $(basename "$lib") needs: $needed"; fi
done
loaded=$(LD_PRELOAD="$2" cat /proc/self/maps | grep -oE 'lib(stdc\+\+|m|gcc_s)\.so[.0-9]*' | sort -u | tr '\n' ' ')
if [ -n "$loaded" ]; then echo "FAIL cat under the preload maps $loaded"; status=1; else echo "ok   a preloaded C program maps no C++ runtime"; fi
# Versions: every name of libtslab.so is TSLAB_0's; in libtslab-malloc.so the
# API's are TSLAB_MALLOC_0's and the malloc family's and operators' none.
wrong=$(with_versions "$1" | grep -v '@@TSLAB_0$' || true)
if [ -n "$wrong" ]; then echo "FAIL $(basename "$1") exports names outside version TSLAB_0:"; head -20 <<<"$wrong"; status=1; else echo "ok   $(basename "$1"): every name in version TSLAB_0"; fi
unversioned=$(with_versions "$2" | grep -v '@' || true)
wrong=$( (grep -vxF -f <(tr ' ' '\n' <<<"$malloc_family"; echo "$operators") <<<"$unversioned" || true) | grep -v '^$' || true)
api_elsewhere=$(with_versions "$2" | grep -E '^(slab_|tslab_|_ZN5tslab|_ZNK5tslab)' | grep -v '@@TSLAB_MALLOC_0$' || true)
if [ -n "$wrong$api_elsewhere" ]; then
  echo "FAIL $(basename "$2"): unversioned names outside the malloc family, or API names outside TSLAB_MALLOC_0:"
  printf '%s\n%s\n' "$wrong" "$api_elsewhere" | head -20
  status=1
else
  echo "ok   $(basename "$2"): the API in version TSLAB_MALLOC_0, $(wc -l <<<"$unversioned") malloc names unversioned"
fi
# libtslab.so never replaces malloc.
if symbols "$1" | grep -qxE 'malloc|free|_Znwm'; then echo "FAIL $(basename "$1") exports malloc"; status=1; fi
exit $status
