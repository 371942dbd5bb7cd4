// MemorySnapshotStore: the shared contract plus what is particular to keeping state in memory.
#include "asap_native/memory_snapshot_store.hpp"

#include <memory>

#include "store_contracts.hpp"

namespace asap_native::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Memory, SnapshotStoreContract,
    ::testing::ValuesIn(memory_factories<SnapshotStore, MemorySnapshotStore>()),
    factory_name<SnapshotStore>);

TEST(MemorySnapshotStore, StoresAreIndependent) {
    MemorySnapshotStore a;
    MemorySnapshotStore b;
    a.save(make_snapshot("task", 1));
    EXPECT_TRUE(a.get("task", 1).has_value());
    EXPECT_FALSE(b.get("task", 1).has_value());
    EXPECT_FALSE(b.remove("task", std::nullopt));
}

TEST(MemorySnapshotStore, ReturnsCopiesNotViewsOfItsState) {
    MemorySnapshotStore store;
    Snapshot original = make_snapshot("task", 1);
    store.save(original);
    original.data_json = R"({"changed":"after save"})";
    auto got = store.get("task", 1);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->data_json, make_snapshot("task", 1).data_json);
    got->data_json = R"({"changed":"after get"})";
    EXPECT_EQ(store.get("task", 1)->data_json, make_snapshot("task", 1).data_json);
}

}  // namespace
}  // namespace asap_native::testing
