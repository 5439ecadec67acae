// This file contains SlabQueue, an intrusive doubly linked list of slabs through
// Slab::prev/next. Used only by the thread owning the slabs (or under a lock).
#ifndef TSLAB_HEAP_SLAB_LIST_H
#define TSLAB_HEAP_SLAB_LIST_H

#include <cstddef>

#include "segment/slab.h"

namespace tslab::detail {

class SlabQueue {
 public:
  Slab* front() const noexcept { return head_; }
  bool empty() const noexcept { return head_ == nullptr; }
  std::size_t size() const noexcept { return size_; }

  void push_front(Slab* s) noexcept {
    s->prev = nullptr;
    s->next = head_;
    if (head_ != nullptr) head_->prev = s;
    head_ = s;
    ++size_;
  }
  void remove(Slab* s) noexcept {
    if (s->prev != nullptr)
      s->prev->next = s->next;
    else
      head_ = s->next;
    if (s->next != nullptr) s->next->prev = s->prev;
    s->prev = s->next = nullptr;
    --size_;
  }
  Slab* pop_front() noexcept {
    Slab* s = head_;
    if (s != nullptr) remove(s);
    return s;
  }
  // Moves every slab of `other` to the front of this list, tagging them `kind`.
  void splice_all(SlabQueue& other, SlabList kind) noexcept {
    while (Slab* s = other.pop_front()) {
      s->list = kind;
      push_front(s);
    }
  }

 private:
  Slab* head_ = nullptr;
  std::size_t size_ = 0;
};

// An intrusive list through Slab::epoch_prev/epoch_next, headed by a plain
// pointer: the allocator's per-epoch slab lists and its pool of recycled slabs
// (allocator lock).
struct SlabChain {
  static void push(Slab*& head, Slab* s) noexcept {
    s->epoch_prev = nullptr;
    s->epoch_next = head;
    if (head != nullptr) head->epoch_prev = s;
    head = s;
  }
  static void remove(Slab*& head, Slab* s) noexcept {
    if (s->epoch_prev != nullptr)
      s->epoch_prev->epoch_next = s->epoch_next;
    else
      head = s->epoch_next;
    if (s->epoch_next != nullptr) s->epoch_next->epoch_prev = s->epoch_prev;
    s->epoch_prev = s->epoch_next = nullptr;
  }
};

}  // namespace tslab::detail

#endif  // TSLAB_HEAP_SLAB_LIST_H
