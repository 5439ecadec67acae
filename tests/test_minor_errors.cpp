// This file contains the tests of the epoch calls that take an epoch number and
// return no error code of their own: for an epoch outside the ring (the first one
// past it, 999 and UINT32_MAX) each of them records TSLAB_ERR_EPOCH_OUT_OF_RANGE
// as the last error, whatever the previous error was, and returns its neutral value.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "slab_alloc.h"
#include "tslab/error.h"
#include "tslab/tslab.hpp"

namespace {

constexpr std::uint32_t EPOCHS = 16;
constexpr EpochId OUT_OF_RANGE[] = {EPOCHS, 999, UINT32_MAX};

// Leaves a last error that is not the one the next call must record.
void record_another_error() {
  int not_a_block = 0;
  ASSERT_FALSE(slab_free_checked(nullptr, &not_a_block));
  ASSERT_EQ(slab_last_error(), TSLAB_ERR_INVALID_ARGUMENT);
}

class MinorErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    SlabAllocatorOptions o{EPOCHS};
    alloc_ = slab_allocator_create_with(&o);
    ASSERT_NE(alloc_, nullptr);
  }
  void TearDown() override { slab_allocator_free(alloc_); }
  SlabAllocator* alloc_ = nullptr;
};

}  // namespace

TEST_F(MinorErrors, EpochStateOutOfRange) {
  for (EpochId e : OUT_OF_RANGE) {
    record_another_error();
    EXPECT_EQ(slab_epoch_state(alloc_, e), EPOCH_CLOSING) << e;
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE) << e;
  }
  EXPECT_EQ(slab_epoch_state(alloc_, EPOCHS - 1), EPOCH_ACTIVE);
}

TEST_F(MinorErrors, EpochEraOutOfRange) {
  for (EpochId e : OUT_OF_RANGE) {
    record_another_error();
    EXPECT_EQ(slab_epoch_era(alloc_, e), 0u) << e;
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE) << e;
  }
  EXPECT_NE(slab_epoch_era(alloc_, EPOCHS - 1), 0u);
}

TEST_F(MinorErrors, EpochSetLabelOutOfRange) {
  for (EpochId e : OUT_OF_RANGE) {
    record_another_error();
    EXPECT_FALSE(slab_epoch_set_label(alloc_, e, "request")) << e;
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE) << e;
    record_another_error();
    EXPECT_FALSE(slab_epoch_set_label(alloc_, e, nullptr)) << e;
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE) << e;
  }
  // No slot's label changed.
  for (EpochId e = 0; e < EPOCHS; ++e) {
    SlabEpochInfo info{};
    ASSERT_TRUE(slab_epoch_info(alloc_, e, &info));
    EXPECT_STREQ(info.label, "") << e;
  }
}

TEST_F(MinorErrors, EpochRefcountsAndInfoOutOfRange) {
  for (EpochId e : OUT_OF_RANGE) {
    record_another_error();
    EXPECT_EQ(slab_epoch_inc_refcount(alloc_, e), 0u) << e;
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE) << e;
    record_another_error();
    EXPECT_EQ(slab_epoch_dec_refcount(alloc_, e), 0u) << e;
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE) << e;
    record_another_error();
    EXPECT_EQ(slab_epoch_get_refcount(alloc_, e), 0u) << e;
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE) << e;
    record_another_error();
    SlabEpochInfo info{};
    EXPECT_FALSE(slab_epoch_info(alloc_, e, &info)) << e;
    EXPECT_EQ(slab_last_error(), TSLAB_ERR_EPOCH_OUT_OF_RANGE) << e;
  }
}

TEST(MinorErrorsCpp, EpochStateAndEraOutOfRange) {
  tslab::Options o;
  o.epoch_count = EPOCHS;
  tslab::Allocator alloc(o);
  for (EpochId e : OUT_OF_RANGE) {
    record_another_error();
    EXPECT_EQ(alloc.epoch_state(e), tslab::EpochState::closing) << e;
    EXPECT_EQ(tslab::last_error(), tslab::Error::epoch_out_of_range) << e;
    record_another_error();
    EXPECT_EQ(alloc.epoch_era(e), 0u) << e;
    EXPECT_EQ(tslab::last_error(), tslab::Error::epoch_out_of_range) << e;
  }
}
