// This file tells the code which sanitizer it is built under, for GCC and Clang.
#ifndef TSLAB_PLATFORM_SANITIZERS_H
#define TSLAB_PLATFORM_SANITIZERS_H

#if defined(__SANITIZE_THREAD__)
#define TSLAB_THREAD_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TSLAB_THREAD_SANITIZER 1
#endif
#endif
#ifndef TSLAB_THREAD_SANITIZER
#define TSLAB_THREAD_SANITIZER 0
#endif

#endif  // TSLAB_PLATFORM_SANITIZERS_H
