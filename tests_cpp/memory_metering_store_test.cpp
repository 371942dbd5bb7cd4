// MemoryMeteringStore: the shared contract plus what is particular to keeping state in memory.
#include "asap_native/memory_metering_store.hpp"

#include <memory>

#include "store_contracts.hpp"

namespace asap_native::testing {
namespace {

INSTANTIATE_TEST_SUITE_P(
    Memory, MeteringStoreContract,
    ::testing::ValuesIn(memory_factories<MeteringStore, MemoryMeteringStore>()),
    factory_name<MeteringStore>);

TEST(MemoryMeteringStore, StoresAreIndependent) {
    MemoryMeteringStore a;
    MemoryMeteringStore b;
    a.record(make_event("agent", "2024-05-01T08:00:00Z"));
    EXPECT_EQ(a.aggregate("agent", "day").total_tasks, 1);
    EXPECT_EQ(b.aggregate("agent", "day").total_tasks, 0);
}

}  // namespace
}  // namespace asap_native::testing
