// This file contains the pieces every workload's table is built from: a case's
// parameters, number formatting, column builders over one case and mode, and
// the section skeleton that shows the allocators the case measured.
#ifndef TSLAB_BENCH_REPORT_SECTION_BUILDERS_HPP
#define TSLAB_BENCH_REPORT_SECTION_BUILDERS_HPP

#include <cmath>
#include <string>
#include <vector>

#include "report/report.hpp"

namespace bench {

inline constexpr double kSectionMiB = 1024.0 * 1024.0;

inline unsigned long long param(const Case& c, const char* key) {
  auto it = c.params.find(key);
  return it == c.params.end() ? 0 : static_cast<unsigned long long>(it->second);
}

inline std::string fmt_val(double v, int prec) {
  return std::isfinite(v) ? strf("%.*f", prec, v) : std::string("n/a");
}

// Column builders over one case and mode.
struct Cols {
  const Store& st;
  std::string id, mode;
  Column num(const std::string& header, const std::string& key, int prec, bool ratio = true,
             bool higher = false) const {
    auto st_ = &st;
    auto id_ = id, mode_ = mode;
    return {header, [=](const std::string& a) { return st_->median_of(a, id_, mode_, key); }, prec, ratio,
            higher};
  }
  Column mib(const std::string& header, const std::string& key, int prec, bool ratio = true) const {
    auto st_ = &st;
    auto id_ = id, mode_ = mode;
    return {header, [=](const std::string& a) { return st_->median_of(a, id_, mode_, key) / kSectionMiB; },
            prec, ratio};
  }
  Column scaled(const std::string& header, const std::string& key, double scale, int prec, bool ratio = true,
                bool higher = false) const {
    auto st_ = &st;
    auto id_ = id, mode_ = mode;
    return {header, [=](const std::string& a) { return st_->median_of(a, id_, mode_, key) * scale; }, prec,
            ratio, higher};
  }
};

// A section for case `c` that shows the allocators the case measured. `c`
// lives in the store, which outlives every section.
inline Section base_section(const Case& c) {
  Section s;
  s.case_id = c.id;
  const Case* cp = &c;
  s.applies = [cp](const std::string& a) { return cp->applies(a); };
  return s;
}

// The sections of the preload group's workloads (preload_sections.cpp).
std::vector<Section> preload_sections(const Store& st, const Workload& w,
                                      const std::vector<const Case*>& cases);
// Tables over every preload workload measured: the headline figure of each, and
// the peak RSS of each, per allocator, with ratios to the best peer.
std::vector<Section> preload_summary(const Store& st);

}  // namespace bench

#endif
