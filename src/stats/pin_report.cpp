// This file contains the text of a pin report (stats/pin_report.h).
#include "stats/pin_report.h"

#include <dlfcn.h>
#include <sys/auxv.h>

#include <cstring>

#include "core/allocator_core.h"
#include "stats/stats_api.h"

namespace tslab::detail {
namespace {

struct Named {
  const char* symbol = nullptr;  // nullptr: not known
  const char* object = nullptr;
  std::uintptr_t offset = 0;  // from the symbol, else from the object's base
  const void* object_base = nullptr;
};

Named name_of(const void* return_address) noexcept {
  // The call instruction, not the one after it: the caller may end with the call.
  const void* at = static_cast<const char*>(return_address) - 1;
  Dl_info info{};
  Named n;
  if (::dladdr(at, &info) == 0) return n;
  n.object = info.dli_fname;
  n.object_base = info.dli_fbase;
  n.symbol = info.dli_sname;
  const void* from = info.dli_saddr != nullptr ? info.dli_saddr : info.dli_fbase;
  n.offset = reinterpret_cast<std::uintptr_t>(return_address) - reinterpret_cast<std::uintptr_t>(from);
  return n;
}

// tslab's object, if it is a shared one (else nullptr: tslab is in the program).
const void* own_shared_object() noexcept {
  Dl_info own{}, program{};
  if (::dladdr(reinterpret_cast<const void*>(&write_pin_report), &own) == 0) return nullptr;
  const auto phdr = ::getauxval(AT_PHDR);
  if (phdr != 0 && ::dladdr(reinterpret_cast<const void*>(phdr), &program) != 0 &&
      program.dli_fbase == own.dli_fbase)
    return nullptr;
  return own.dli_fbase;
}

bool starts_with(const char* s, const char* prefix) noexcept {
  return std::strncmp(s, prefix, std::strlen(prefix)) == 0;
}

bool inside_tslab(const Named& n, const void* own_object) noexcept {
  if (own_object != nullptr && n.object_base == own_object) return true;
  if (n.symbol == nullptr) return false;
  for (const char* prefix : {"_ZN5tslab", "_ZNK5tslab", "tslab_", "slab_", "alloc_obj", "malloc", "calloc",
                             "realloc", "_Znw", "_Zna", "_Unwind"})
    if (starts_with(n.symbol, prefix)) return true;
  return false;
}

void write_site(const PinSite& site, std::uint64_t every, std::uint32_t rank, const void* own_object,
                TextWriter& w) noexcept {
  w.printf("  site %u: %llu live sampled blocks, %llu bytes (estimate ~%llu blocks, ~%llu bytes)\n", rank,
           static_cast<unsigned long long>(site.sampled_blocks),
           static_cast<unsigned long long>(site.sampled_bytes),
           static_cast<unsigned long long>(site.sampled_blocks * every),
           static_cast<unsigned long long>(site.sampled_bytes * every));
  std::uint32_t first = 0;
  while (first < site.depth && inside_tslab(name_of(site.frames[first]), own_object)) ++first;
  if (first == site.depth) first = 0;  // nothing but tslab: show it all
  constexpr std::uint32_t SHOWN = 8;
  for (std::uint32_t i = first; i < site.depth && i < first + SHOWN; ++i) {
    const Named n = name_of(site.frames[i]);
    w.printf("    #%u %p ", i - first, site.frames[i]);
    if (n.symbol != nullptr)
      w.printf("%s+0x%llx", n.symbol, static_cast<unsigned long long>(n.offset));
    else if (n.object != nullptr)
      w.printf("?? (+0x%llx)", static_cast<unsigned long long>(n.offset));
    else
      w.puts("??");
    if (n.object != nullptr) w.printf(" in %s", n.object);
    w.put('\n');
  }
}

}  // namespace

void write_pin_report(const PinReport& report, std::uint32_t epoch, TextWriter& w) noexcept {
  if (report.sample_every == 0) {
    w.printf("epoch %u: pin sampling is off (TSLAB_PIN_SAMPLE=0): no sites\n", epoch);
    return;
  }
  const auto every = static_cast<unsigned long long>(report.sample_every);
  if (report.era == 0) {
    w.printf("epoch %u: pin sampling 1 in %llu allocations: no close sampled yet\n", epoch, every);
    return;
  }
  w.printf(
      "epoch %u: last close (era %llu), pin sampling 1 in %llu allocations: %llu live sampled blocks "
      "(estimate ~%llu blocks), call sites: %llu%s\n",
      epoch, static_cast<unsigned long long>(report.era), every,
      static_cast<unsigned long long>(report.live_sampled),
      static_cast<unsigned long long>(report.live_sampled * report.sample_every),
      static_cast<unsigned long long>(report.sites_total),
      report.live_sampled == 0 ? ": no sampled block pins it" : "");
  const void* own_object = own_shared_object();
  for (std::uint32_t i = 0; i < report.site_count; ++i)
    write_site(report.sites[i], report.sample_every, i + 1, own_object, w);
}

std::size_t drain_report_render(const AllocatorCore& core, std::uint32_t epoch, char* out,
                                std::size_t out_size, TslabError* error) noexcept {
  TextWriter w(out, out_size);  // the output is a terminated string from here, even if empty
  *error = TSLAB_ERR_INVALID_ARGUMENT;
  if (!core.alive()) return 0;
  *error = TSLAB_ERR_EPOCH_OUT_OF_RANGE;
  if (epoch >= core.epoch_count()) return 0;
  *error = TSLAB_OK;
  PinReport report;
  core.pin_report(epoch, &report);
  write_pin_report(report, epoch, w);
  return w.needed();
}

}  // namespace tslab::detail
