/* This file contains the error codes shared by the C and C++ APIs.
 *
 * Every call that can fail records why in a thread-local "last error" that
 * slab_last_error() (C) and tslab::last_error() (C++) return. Successful calls
 * do not reset it; read it only right after a call reported failure. */
#ifndef TSLAB_ERROR_H
#define TSLAB_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* The enums a caller passes in (error codes, arena overflow policies) have int
 * as their type in C++ too: C lets a caller store any int in one, and with
 * this every such value is one the library can read and refuse. (In C++
 * without a fixed type, only the values of the enumerators' bit width are.) */
#if defined(__cplusplus) && __cplusplus >= 201103L
#define TSLAB_ENUM_INT : int
#else
#define TSLAB_ENUM_INT
#endif

typedef enum TslabError TSLAB_ENUM_INT {
  TSLAB_OK = 0,
  TSLAB_ERR_INVALID_ARGUMENT = 1,   /* NULL allocator or output pointer, bad option */
  TSLAB_ERR_SIZE_ZERO = 2,          /* handle API: a size of zero */
  TSLAB_ERR_SIZE_TOO_LARGE = 3,     /* size + alignment does not fit the address space */
  TSLAB_ERR_BAD_ALIGNMENT = 4,      /* zero or not a power of two (arenas: or beyond 1 GiB) */
  TSLAB_ERR_EPOCH_OUT_OF_RANGE = 5, /* epoch id >= the allocator's epoch count */
  TSLAB_ERR_EPOCH_CLOSING = 6,      /* the epoch takes no new allocations */
  TSLAB_ERR_OUT_OF_MEMORY = 7,      /* the operating system refused memory */
  TSLAB_ERR_INVALID_HANDLE = 8,     /* zero or malformed handle */
  TSLAB_ERR_STALE_HANDLE = 9,       /* the handle's slab has been reused since */
  TSLAB_ERR_FOREIGN = 10,           /* pointer or handle of another allocator */
  TSLAB_ERR_NOT_ALLOCATED = 11,     /* pointer this allocator never returned, or a free slot */
  TSLAB_ERR_INTERIOR_POINTER = 12,  /* points inside a block, not at its start */
  TSLAB_ERR_DOUBLE_FREE = 13,       /* the block was already freed */
  TSLAB_ERR_STALE_EPOCH = 14,       /* names a past activation (era) of an epoch slot */
  TSLAB_ERR_DOMAIN_MISUSE = 15,     /* epoch domain used out of order, from another thread, ... */
  TSLAB_ERR_UNKNOWN_OPTION = 16,    /* no TSLAB_* option has that name */
  TSLAB_ERR_BAD_OPTION_VALUE = 17,  /* an option's value does not parse or is out of range */
  TSLAB_ERR_OPTIONS_FROZEN = 18,    /* options are read once, at first use; too late to set one */
  TSLAB_ERR_ARENA_FULL = 19,        /* the arena has no room and its overflow policy is "error" */
  TSLAB_ERR_REENTRANT = 20, /* called from inside tslab on the same thread (a signal handler, a lazy init) */
  TSLAB_ERR_SYSTEM = 21,    /* the OS refused a socket, thread or similar call */
  TSLAB_ERR_NO_FREE_EPOCH = 22, /* epoch_open: every epoch slot but the current one is held open */
  /* the process allocator: never freed, none of its epochs destroyed, its epoch 0 never closed */
  TSLAB_ERR_PERMANENT = 23
} TslabError;

/* Why the calling thread's last failed call failed. */
TslabError slab_last_error(void);

/* A short, static, human-readable description of an error code. */
const char* slab_error_string(TslabError error);

#ifdef __cplusplus
}
#endif

#endif /* TSLAB_ERROR_H */
