// This file contains a C++ program run under LD_PRELOAD=libtslab-malloc.so: an
// operator new that cannot be served throws std::bad_alloc the program catches,
// after calling the program's new-handler until the handler gives up; the
// nothrow forms return nullptr. The library has no C++ runtime of its own: the
// exception and the handler are the program's (src/override/new_delete.cpp).
#include <dlfcn.h>

#include <cstdint>
#include <cstdio>
#include <new>
#include <string>
#include <vector>

namespace {

int failures = 0;

void expect(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "FAIL %s\n", what);
    ++failures;
  }
}

void* opaque(void* p) {
  asm volatile("" : "+r"(p));  // the compiler may not elide the allocation
  return p;
}

constexpr std::size_t HUGE_SIZE = SIZE_MAX / 2;

std::size_t opaque_size(std::size_t n) {
  asm volatile("" : "+r"(n));
  return n;
}
int handler_calls = 0;

}  // namespace

int main() {
  // Under the preload: operator new is libtslab-malloc's.
  Dl_info info{};
  void* plain_new = dlsym(RTLD_DEFAULT, "_Znwm");
  expect(plain_new != nullptr && dladdr(plain_new, &info) != 0 && info.dli_fname != nullptr &&
             std::string(info.dli_fname).find("libtslab-malloc") != std::string::npos,
         "operator new comes from libtslab-malloc.so");

  bool caught = false;
  try {
    opaque(::operator new(HUGE_SIZE));
  } catch (const std::bad_alloc&) {
    caught = true;
  }
  expect(caught, "operator new(huge) throws std::bad_alloc");
  caught = false;
  try {
    opaque(::operator new[](HUGE_SIZE, std::align_val_t{64}));
  } catch (const std::bad_alloc&) {
    caught = true;
  }
  expect(caught, "aligned operator new[](huge) throws std::bad_alloc");
  expect(::operator new(HUGE_SIZE, std::nothrow) == nullptr, "nothrow operator new(huge) returns nullptr");
  expect(::operator new (HUGE_SIZE, std::align_val_t{128}, std::nothrow) == nullptr,
         "aligned nothrow operator new(huge) returns nullptr");

  // [new.delete.single]: the handler is called until it uninstalls itself.
  std::set_new_handler([] {
    if (++handler_calls == 3) std::set_new_handler(nullptr);
  });
  caught = false;
  try {
    opaque(::operator new(HUGE_SIZE));
  } catch (const std::bad_alloc&) {
    caught = true;
  }
  expect(caught && handler_calls == 3, "the new-handler runs three times, then std::bad_alloc");
  handler_calls = 0;
  std::set_new_handler([] {
    if (++handler_calls == 2) std::set_new_handler(nullptr);
  });
  expect(::operator new(HUGE_SIZE, std::nothrow) == nullptr&& handler_calls == 2,
         "the nothrow form runs the new-handler too, then returns nullptr");

  // A new-handler may throw std::bad_alloc ([new.handler]); a nothrow form
  // then returns nullptr, from every kind of caller.
  handler_calls = 0;
  std::set_new_handler([] {
    ++handler_calls;
    throw std::bad_alloc();
  });
  expect(::operator new(HUGE_SIZE, std::nothrow) == nullptr&& handler_calls == 1,
         "a nothrow new whose new-handler throws returns nullptr");
  expect(::operator new[](HUGE_SIZE, std::align_val_t{64}, std::nothrow) == nullptr&& handler_calls == 2,
         "an aligned nothrow new[] whose new-handler throws returns nullptr");
  {
    const std::string guard(100, 'g');  // a frame with a destructor around the call
    expect(new (std::nothrow) char[opaque_size(HUGE_SIZE)] == nullptr&& guard.size() == 100 &&
               handler_calls == 3,
           "a nothrow new[] expression whose new-handler throws returns nullptr");
  }
  std::set_new_handler(nullptr);

  // Ordinary C++ allocation goes on working.
  std::vector<std::string> strings;
  for (int i = 0; i < 10000; ++i) strings.push_back(std::string(static_cast<std::size_t>(i % 300), 'x'));
  expect(strings[299].size() == 299, "containers work");
  if (failures == 0) std::puts("new_failure: ok");
  return failures == 0 ? 0 : 1;
}
