// The snapshot model: data conversion and validation.
#include "asap_native/snapshot.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "asap_native/errors.hpp"
#include "test_support.hpp"

namespace asap_native::testing {
namespace {

TEST(SnapshotData, KeepsKeyOrderBothWays) {
    nlohmann::ordered_json data;
    data["zeta"] = 1;
    data["alpha"] = nlohmann::ordered_json::array({3, "x", nullptr});
    data["mid"] = {{"z", true}, {"a", 2.5}};
    const std::string text = snapshot_data_from_json(data);
    EXPECT_EQ(text, R"({"zeta":1,"alpha":[3,"x",null],"mid":{"z":true,"a":2.5}})");
    const auto back = snapshot_data_to_json(text);
    EXPECT_EQ(back, data);
    EXPECT_EQ(back.dump(), text);
}

TEST(SnapshotData, EmptyObjectAndUnicode) {
    EXPECT_EQ(snapshot_data_from_json(nlohmann::ordered_json::object()), "{}");
    nlohmann::ordered_json data;
    data["k\xC3\xA9"] = "\xE2\x9C\x93";
    EXPECT_EQ(snapshot_data_to_json(snapshot_data_from_json(data)), data);
}

TEST(SnapshotData, OnlyObjectsAreSnapshotData) {
    EXPECT_THROW(snapshot_data_from_json(nlohmann::ordered_json::array()), InvalidArgument);
    EXPECT_THROW(snapshot_data_from_json(nlohmann::ordered_json("text")), InvalidArgument);
    EXPECT_THROW(snapshot_data_from_json(nlohmann::ordered_json(nullptr)), InvalidArgument);
    EXPECT_THROW(snapshot_data_from_json(nlohmann::ordered_json(3)), InvalidArgument);
}

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
