// The SQLite stores create the tables asap-protocol's own DDL creates, column for column and
// index for index. The DDL is tests_cpp/data/asap_protocol_<table>.sql, which
// tests_py/test_asap_schema_oracle.py keeps equal to the installed asap-protocol's.
#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <string>

#include "asap_native/sqlite_metering_store.hpp"
#include "asap_native/sqlite_snapshot_store.hpp"
#include "test_support.hpp"

namespace asap_native::testing {
namespace {

/// A table of asap-protocol's, and how to make our store create it in a file.
struct AsapTable {
    std::string name;
    std::function<void(const std::string& path)> open_store;
};

void PrintTo(const AsapTable& table, std::ostream* out) { *out << table.name; }

std::string table_name(const ::testing::TestParamInfo<AsapTable>& table) {
    return table.param.name;
}

class AsapProtocolSchema : public ::testing::TestWithParam<AsapTable> {};

TEST_P(AsapProtocolSchema, IsTheOneAsapsDdlCreates) {
    const AsapTable& table = GetParam();
    TempDir dir;
    const std::string ours = dir.file("ours.db");
    const std::string asap = dir.file("asap.db");
    table.open_store(ours);
    RawDb(asap).exec(test_data("asap_protocol_" + table.name + ".sql"));
    EXPECT_EQ(table_layout(ours, table.name), table_layout(asap, table.name));
}

INSTANTIATE_TEST_SUITE_P(
    SqliteStores, AsapProtocolSchema,
    ::testing::Values(AsapTable{"snapshots",
                                [](const std::string& path) { SqliteSnapshotStore store(path); }},
                      AsapTable{"usage_events",
                                [](const std::string& path) { SqliteMeteringStore store(path); }}),
    table_name);

}  // namespace
}  // namespace asap_native::testing
