// This file contains the text of an epoch slot's last-close pin report
// (TSLAB_PIN_SAMPLE, core/pin_sample.h), its addresses named with dladdr.
#ifndef TSLAB_STATS_PIN_REPORT_H
#define TSLAB_STATS_PIN_REPORT_H

#include <cstdint>

#include "core/pin_sample.h"
#include "stats/text_writer.h"

namespace tslab::detail {

// Frames inside tslab are left out: the leading frames of a stack that lie in
// tslab's own shared object (when tslab is one), or whose symbol starts with
// _ZN5tslab / _ZNK5tslab (tslab::), tslab_, slab_, alloc_obj, malloc, calloc,
// realloc, _Znw / _Zna (operator new), or _Unwind. With a static link, tslab's
// frames are named only if the program exports its symbols (-rdynamic).
void write_pin_report(const PinReport& report, std::uint32_t epoch, TextWriter& w) noexcept;

}  // namespace tslab::detail

#endif  // TSLAB_STATS_PIN_REPORT_H
