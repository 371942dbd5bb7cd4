// MemoryMeteringStore: the shared contract plus what is particular to keeping state in memory.
#include "asap_native/memory_metering_store.hpp"

#include <limits>
#include <memory>
#include <vector>

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

// asap-protocol's in-memory store slices the matches, matches[offset:offset + limit]: a
// negative limit ends the page that many events before the last.
TEST(MemoryMeteringStore, ANegativeLimitSlicesAsPythonDoes) {
    MemoryMeteringStore store;
    for (int i = 0; i < 5; ++i)
        store.record(make_event("agent", "2024-05-01T08:0" + std::to_string(i) + ":00Z", i));
    const InstantMicros start = *parse_iso8601("2024-05-01T08:00:00Z");
    const InstantMicros end = *parse_iso8601("2024-05-01T09:00:00Z");
    auto tokens = [&](std::int64_t limit, std::int64_t offset) {
        std::vector<int> out;
        for (const auto& e : store.query("agent", start, end, QueryPage{limit, offset}))
            out.push_back(static_cast<int>(e.metrics.tokens_in));
        return out;
    };
    // Python: list(range(5))[0:-1], [1:0], [2:-3], [0:-5], [0:-99], [3:2]
    EXPECT_EQ(tokens(-1, 0), (std::vector<int>{0, 1, 2, 3}));
    EXPECT_EQ(tokens(-1, 1), (std::vector<int>{}));
    EXPECT_EQ(tokens(-5, 2), (std::vector<int>{}));
    EXPECT_EQ(tokens(-5, 0), (std::vector<int>{}));
    EXPECT_EQ(tokens(-99, 0), (std::vector<int>{}));
    EXPECT_EQ(tokens(-1, 3), (std::vector<int>{}));
    EXPECT_EQ(
        tokens(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()),
        (std::vector<int>{}));
}

}  // namespace
}  // namespace asap_native::testing
