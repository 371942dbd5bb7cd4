// The snapshot model: validation.
#include "asap_native/snapshot.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "asap_native/errors.hpp"
#include "test_support.hpp"

namespace asap_native::testing {
namespace {

TEST(ValidateSnapshot, AnyIdsAndVersionsAsAsapStoresThem) {
    for (std::int64_t version :
         {std::int64_t{1}, std::int64_t{0}, std::int64_t{-1},
          std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()}) {
        Snapshot s = make_snapshot("task", version);
        EXPECT_NO_THROW(validate_snapshot(s)) << version;
    }
    Snapshot s = make_snapshot("", 1);
    s.id.clear();
    EXPECT_NO_THROW(validate_snapshot(s));
}

TEST(ValidateSnapshot, CreatedAtMustBeAnInstant) {
    Snapshot s = make_snapshot("task", 1);
    s.created_at.clear();
    EXPECT_THROW(validate_snapshot(s), InvalidArgument);
    s.created_at = "yesterday";
    EXPECT_THROW(validate_snapshot(s), InvalidArgument);
    s.created_at = "2024-05-01T08:00:00+02:00";
    EXPECT_NO_THROW(validate_snapshot(s));
}

}  // namespace
}  // namespace asap_native::testing
