// This file contains the C shell of the options table (tslab/options.h).
#include "core/thread_cache.h"
#include "options/options.h"
#include "tslab/options.h"

using tslab::detail::OptionId;

extern "C" bool tslab_option_set(const char* name, const char* value) {
  const TslabError e = tslab::detail::option_set(tslab::detail::option_by_name(name), value);
  if (e != TSLAB_OK) tslab::detail::set_error(e);
  return e == TSLAB_OK;
}

extern "C" bool tslab_option_get(const char* name, uint64_t* value) {
  const OptionId id = tslab::detail::option_by_name(name);
  if (id == OptionId::count) return tslab::detail::set_error(TSLAB_ERR_UNKNOWN_OPTION), false;
  if (value == nullptr) return tslab::detail::set_error(TSLAB_ERR_INVALID_ARGUMENT), false;
  const tslab::detail::OptionValue v = tslab::detail::option(id);
  if (!v.ok) return tslab::detail::set_error(TSLAB_ERR_BAD_OPTION_VALUE), false;
  *value = v.value;
  return true;
}

extern "C" const char* tslab_option_error(const char* name) {
  const OptionId id = tslab::detail::option_by_name(name);
  if (id == OptionId::count) return "unknown option";
  return tslab::detail::option_error(id);
}

extern "C" size_t tslab_options_describe(char* out, size_t out_size) {
  return tslab::detail::describe_options(out, out_size);
}
