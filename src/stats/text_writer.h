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
  // A JSON string literal, quotes included. Text that is not UTF-8 comes out
  // with U+FFFD in place of each bad byte, so the document stays valid.
  void json_string(const char* s) noexcept { quoted(s, false); }
  // A string for a terminal, quotes included: a control character as \xNN (no
  // escape sequence or line of its own reaches the reader), else as JSON's.
  void quoted_text(const char* s) noexcept { quoted(s, true); }
  // A Prometheus label value (between quotes): backslash, quote and newline
  // escaped; bytes that are not UTF-8 replaced (a scrape with one is refused whole).
  void label_value(const char* s) noexcept {
    while (*s != '\0') {
      if (*s == '\\' || *s == '"') {
        put('\\');
        put(*s++);
      } else if (*s == '\n') {
        puts("\\n");
        ++s;
      } else {
        s = put_utf8(s);
      }
    }
  }

 private:
  // Quote and backslash escaped, control characters as \u00NN (JSON) or, for
  // a terminal, \xNN with DEL too; bytes that are not UTF-8 as U+FFFD.
  void quoted(const char* s, bool terminal) noexcept {
    put('"');
    while (*s != '\0') {
      const auto c = static_cast<unsigned char>(*s);
      if (c == '"' || c == '\\') {
        put('\\');
        put(*s++);
      } else if (c < 0x20 || (terminal && c == 0x7f)) {
        if (terminal)
          printf("\\x%02x", c);
        else
          printf("\\u%04x", c);
        ++s;
      } else {
        s = put_utf8(s);
      }
    }
    put('"');
  }
  // Copies one character from s (an ASCII byte or a well-formed UTF-8 sequence),
  // or writes U+FFFD for a byte that starts none. Returns where the next starts.
  const char* put_utf8(const char* s) noexcept {
    const auto* u = reinterpret_cast<const unsigned char*>(s);
    const std::size_t n = utf8_length(u);
    if (n == 0) {
      puts("\xEF\xBF\xBD");
      return s + 1;
    }
    for (std::size_t i = 0; i < n; ++i) put(s[i]);
    return s + n;
  }
  // Length of the well-formed UTF-8 sequence at u (RFC 3629), 0 if there is none.
  static std::size_t utf8_length(const unsigned char* u) noexcept {
    const unsigned char c = u[0];
    if (c < 0x80) return 1;
    auto cont = [u](std::size_t i) { return (u[i] & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
      return u[1] >= lo && u[1] <= hi && cont(2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      const unsigned char lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
      return u[1] >= lo && u[1] <= hi && cont(2) && cont(3) ? 4 : 0;
    }
    return 0;
  }

  char* out_;
  std::size_t size_;
  std::size_t needed_ = 0;
};

}  // namespace tslab::detail

#endif  // TSLAB_STATS_TEXT_WRITER_H
