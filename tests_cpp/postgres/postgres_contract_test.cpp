// The SnapshotStore and MeteringStore contracts (store_contracts.hpp) on PostgreSQL.
#ifdef ASAP_NATIVE_HAS_POSTGRES

#include <memory>
#include <vector>

#include "../store_contracts.hpp"
#include "asap_native/postgres_metering_store.hpp"
#include "asap_native/postgres_snapshot_store.hpp"
#include "postgres_test_support.hpp"

namespace asap_native::testing {
namespace {

// Schemas live until the test program exits (the contract fixtures own only the store).
TestSchema& new_schema() {
    static std::vector<std::unique_ptr<TestSchema>> schemas;
    schemas.push_back(std::make_unique<TestSchema>());
    return *schemas.back();
}

/// The factory of a PostgreSQL store `Impl`, each store on a schema of its own; without a
/// server it makes none and the test skips.
template <typename Store, typename Impl>
std::vector<StoreFactory<Store>> postgres_factories() {
    return {{"postgres", [](const TempDir&) -> std::unique_ptr<Store> {
                 if (skip_without_postgres()) return nullptr;
                 return std::make_unique<Impl>(new_schema().options());
             }}};
}

INSTANTIATE_TEST_SUITE_P(
    Postgres, SnapshotStoreContract,
    ::testing::ValuesIn(postgres_factories<SnapshotStore, PostgresSnapshotStore>()),
    factory_name<SnapshotStore>);

INSTANTIATE_TEST_SUITE_P(
    Postgres, MeteringStoreContract,
    ::testing::ValuesIn(postgres_factories<MeteringStore, PostgresMeteringStore>()),
    factory_name<MeteringStore>);

}  // namespace
}  // namespace asap_native::testing

#endif  // ASAP_NATIVE_HAS_POSTGRES
