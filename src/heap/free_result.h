// This file contains FreeResult: what a free fast path returns to its API,
// either the error itself (TslabError) or only whether it succeeded (bool, the
// C API's slab_free_checked). Each API gets a fast path of its own type, so
// every ending of the fast path, including the cold ones, is a tail call and
// the hot function needs no stack frame.
#ifndef TSLAB_HEAP_FREE_RESULT_H
#define TSLAB_HEAP_FREE_RESULT_H

#include <type_traits>

#include "tslab/error.h"

namespace tslab::detail {

template <class Result>
concept FreeResult = std::is_same_v<Result, TslabError> || std::is_same_v<Result, bool>;

template <FreeResult Result>
constexpr Result free_result(TslabError e) noexcept {
  if constexpr (std::is_same_v<Result, bool>)
    return e == TSLAB_OK;
  else
    return e;
}

}  // namespace tslab::detail

#endif  // TSLAB_HEAP_FREE_RESULT_H
