// Behaviour every SnapshotStore and MeteringStore must show. The TEST_Ps live in
// snapshot_store_test.cpp and metering_store_test.cpp; each implementation's test file
// instantiates them with a factory for that implementation.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "asap_native/metering_store.hpp"
#include "asap_native/snapshot_store.hpp"
#include "test_support.hpp"

namespace asap_native::testing {

/// Makes a store whose files (if any) go in the given folder.
template <typename Store>
struct StoreFactory {
    std::string name;
    std::function<std::unique_ptr<Store>(const TempDir&)> make;
};

/// Prints a factory as its name in test output.
template <typename Store>
void PrintTo(const StoreFactory<Store>& factory, std::ostream* out) {
    *out << factory.name;
}

template <typename Store>
std::string factory_name(const ::testing::TestParamInfo<StoreFactory<Store>>& info) {
    return info.param.name;
}

class SnapshotStoreContract : public ::testing::TestWithParam<StoreFactory<SnapshotStore>> {
protected:
    void SetUp() override { store_ = GetParam().make(dir_); }
    SnapshotStore& store() { return *store_; }

    TempDir dir_;
    std::unique_ptr<SnapshotStore> store_;
};

class MeteringStoreContract : public ::testing::TestWithParam<StoreFactory<MeteringStore>> {
protected:
    void SetUp() override { store_ = GetParam().make(dir_); }
    MeteringStore& store() { return *store_; }

    TempDir dir_;
    std::unique_ptr<MeteringStore> store_;
};

}  // namespace asap_native::testing
