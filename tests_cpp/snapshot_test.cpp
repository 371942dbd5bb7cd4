// The snapshot model: validation.
#include "asap_native/snapshot.hpp"

#include <gtest/gtest.h>

#include <limits>

#include "asap_native/errors.hpp"
#include "test_support.hpp"

namespace asap_native::testing {
namespace {

TEST(ValidateSnapshot, AcceptsAndRejects) {
    EXPECT_NO_THROW(validate_snapshot(make_snapshot("task", 1)));
    EXPECT_NO_THROW(
        validate_snapshot(make_snapshot("task", std::numeric_limits<std::int64_t>::max())));
    Snapshot s = make_snapshot("task", 1);
    s.task_id.clear();
    EXPECT_THROW(validate_snapshot(s), InvalidArgument);
    s = make_snapshot("task", 1);
    s.id.clear();
    EXPECT_THROW(validate_snapshot(s), InvalidArgument);
    s = make_snapshot("task", 1);
    s.created_at.clear();
    EXPECT_THROW(validate_snapshot(s), InvalidArgument);
    for (std::int64_t version :
         {std::int64_t{0}, std::int64_t{-1}, std::numeric_limits<std::int64_t>::min()}) {
        s = make_snapshot("task", 1);
        s.version = version;
        EXPECT_THROW(validate_snapshot(s), InvalidArgument) << version;
    }
}

TEST(ValidateTaskKey, VersionIsOptional) {
    const std::int64_t one = 1, zero = 0;
    EXPECT_NO_THROW(validate_task_key("task", nullptr));
    EXPECT_NO_THROW(validate_task_key("task", &one));
    EXPECT_THROW(validate_task_key("task", &zero), InvalidArgument);
    EXPECT_THROW(validate_task_key("", nullptr), InvalidArgument);
    try {
        validate_task_key("task", &zero);
    } catch (const InvalidArgument& e) {
        EXPECT_NE(std::string(e.what()).find("version"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace asap_native::testing
