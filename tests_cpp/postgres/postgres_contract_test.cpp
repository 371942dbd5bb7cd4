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

INSTANTIATE_TEST_SUITE_P(Postgres, SnapshotStoreContract,
                         ::testing::Values(StoreFactory<SnapshotStore>{
                             "postgres",
                             [](const TempDir&) -> std::unique_ptr<SnapshotStore> {
                                 if (skip_without_postgres()) return nullptr;
                                 return std::make_unique<PostgresSnapshotStore>(
                                     new_schema().options());
                             }}),
                         factory_name<SnapshotStore>);

INSTANTIATE_TEST_SUITE_P(Postgres, MeteringStoreContract,
                         ::testing::Values(StoreFactory<MeteringStore>{
                             "postgres",
                             [](const TempDir&) -> std::unique_ptr<MeteringStore> {
                                 if (skip_without_postgres()) return nullptr;
                                 return std::make_unique<PostgresMeteringStore>(
                                     new_schema().options());
                             }}),
                         factory_name<MeteringStore>);

}  // namespace
}  // namespace asap_native::testing

#endif  // ASAP_NATIVE_HAS_POSTGRES
