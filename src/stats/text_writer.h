// This file contains TextWriter: snprintf-style output into a caller's buffer
// that keeps counting past its end, so a renderer can report the size it needed.
#ifndef TSLAB_STATS_TEXT_WRITER_H
#define TSLAB_STATS_TEXT_WRITER_H

#include <cstdarg>
#include <cstddef>
#include <cstdint>
#include <cstdio>

namespace tslab::detail {

class TextWriter {
 public:
  TextWriter(char* out, std::size_t size) noexcept : out_(out), size_(out == nullptr ? 0 : size) {
    if (size_ != 0) out_[0] = '\0';
  }

  // The length the whole text needs (without the NUL).
  std::size_t needed() const noexcept { return needed_; }

  [[gnu::format(printf, 2, 3)]] void printf(const char* format, ...) noexcept {
    va_list args;
    va_start(args, format);
    const std::size_t at = needed_ < size_ ? needed_ : size_;
    const int n = std::vsnprintf(size_ == 0 ? nullptr : out_ + at, size_ - at, format, args);
    va_end(args);
    if (n > 0) needed_ += static_cast<std::size_t>(n);
  }
  void put(char c) noexcept {
    if (needed_ + 1 < size_) {
      out_[needed_] = c;
      out_[needed_ + 1] = '\0';
    }
    ++needed_;
  }
  void puts(const char* s) noexcept {
    while (*s != '\0') put(*s++);
  }
  // A JSON string literal, quotes included.
  void json_string(const char* s) noexcept {
    put('"');
    for (; *s != '\0'; ++s) {
      const auto c = static_cast<unsigned char>(*s);
      if (c == '"' || c == '\\') {
        put('\\');
        put(static_cast<char>(c));
      } else if (c < 0x20) {
        printf("\\u%04x", c);
      } else {
        put(static_cast<char>(c));
      }
    }
    put('"');
  }
  // A Prometheus label value (between quotes): backslash, quote and newline escaped.
  void label_value(const char* s) noexcept {
    for (; *s != '\0'; ++s) {
      if (*s == '\\' || *s == '"') {
        put('\\');
        put(*s);
      } else if (*s == '\n') {
        puts("\\n");
      } else {
        put(*s);
      }
    }
  }

 private:
  char* out_;
  std::size_t size_;
  std::size_t needed_ = 0;
};

}  // namespace tslab::detail

#endif  // TSLAB_STATS_TEXT_WRITER_H
