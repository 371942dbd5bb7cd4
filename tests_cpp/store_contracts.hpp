// Behaviour every SnapshotStore and MeteringStore must show. The TEST_Ps live in
// snapshot_store_test.cpp and metering_store_test.cpp; each implementation's test file
// instantiates them with the factories for that implementation. Also: the StoreError or
// PathError a call throws.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "asap_native/errors.hpp"
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

/// The factories of a SQLite store `Impl` (constructed from a path): on a file in the test's
/// folder and on ":memory:".
template <typename Store, typename Impl>
std::vector<StoreFactory<Store>> sqlite_factories() {
    return {
        {"file",
         [](const TempDir& dir) -> std::unique_ptr<Store> {
             return std::make_unique<Impl>(dir.file("store.db"));
         }},
        {"in_memory_db",
         [](const TempDir&) -> std::unique_ptr<Store> {
             return std::make_unique<Impl>(":memory:");
         }},
    };
}

/// The factory of an in-memory store `Impl` (default-constructed).
template <typename Store, typename Impl>
std::vector<StoreFactory<Store>> memory_factories() {
    return {{"memory",
             [](const TempDir&) -> std::unique_ptr<Store> { return std::make_unique<Impl>(); }}};
}

/// A contract test: a fresh store from the factory, its files in a fresh folder.
template <typename Store>
class StoreContract : public ::testing::TestWithParam<StoreFactory<Store>> {
protected:
    void SetUp() override { store_ = this->GetParam().make(dir_); }
    Store& store() { return *store_; }

    TempDir dir_;
    std::unique_ptr<Store> store_;
};

class SnapshotStoreContract : public StoreContract<SnapshotStore> {};
class MeteringStoreContract : public StoreContract<MeteringStore> {};

/// Runs `call` and returns the `Error` it throws; fails the test, returning `none`, when it
/// throws nothing.
template <typename Error, typename Call>
Error error_from(Call&& call, Error none) {
    try {
        call();
    } catch (const Error& e) {
        return e;
    }
    ADD_FAILURE() << "expected an exception, none thrown";
    return none;
}

template <typename Call>
StoreError store_error_from(Call&& call) {
    return error_from(std::forward<Call>(call),
                      StoreError(StoreErrorKind::Other, -1, "none thrown"));
}

template <typename Call>
PathError path_error_from(Call&& call) {
    return error_from(std::forward<Call>(call), PathError(0, "none thrown", ""));
}

}  // namespace asap_native::testing
