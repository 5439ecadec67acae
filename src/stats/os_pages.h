// This file contains OsPages: a page-granular buffer taken straight from the OS,
// so that reporting on an allocator never allocates from it (or from whatever
// malloc the process uses). The memory is zero-filled.
#ifndef TSLAB_STATS_OS_PAGES_H
#define TSLAB_STATS_OS_PAGES_H

#include <cstddef>

#include "tslab/platform.hpp"

namespace tslab::detail {

class OsPages {
 public:
  OsPages() = default;
  OsPages(const OsPages&) = delete;
  OsPages& operator=(const OsPages&) = delete;
  ~OsPages() { reset(0); }

  // Replaces the buffer with one of at least `bytes` (none for 0). False if the
  // OS refused; the buffer is empty then.
  bool reset(std::size_t bytes) noexcept {
    OsPlatform& os = OsPlatform::instance();
    if (data_ != nullptr) os.release(data_, size_);
    data_ = nullptr;
    size_ = 0;
    if (bytes == 0) return true;
    const std::size_t page = os.page_size();
    if (bytes > static_cast<std::size_t>(-1) - page) return false;
    const std::size_t rounded = (bytes + page - 1) / page * page;
    data_ = static_cast<char*>(os.reserve(rounded, page));
    if (data_ != nullptr) size_ = rounded;
    return data_ != nullptr;
  }
  char* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace tslab::detail

#endif  // TSLAB_STATS_OS_PAGES_H
