#include "asap_native/sqlite/version.hpp"

#include <sqlite3.h>

static_assert(SQLITE_VERSION_NUMBER >= ASAP_NATIVE_MIN_SQLITE_VERSION_NUMBER,
              "sqlite3.h is older than ASAP_NATIVE_MIN_SQLITE_VERSION in CMakeLists.txt");

namespace asap_native::sqlite {

std::string library_version() { return sqlite3_libversion(); }

bool library_is_bundled() { return ASAP_NATIVE_SQLITE_BUNDLED != 0; }

std::string minimum_version() {
    constexpr int number = ASAP_NATIVE_MIN_SQLITE_VERSION_NUMBER;
    return std::to_string(number / 1000000) + "." + std::to_string(number / 1000 % 1000) + "." +
           std::to_string(number % 1000);
}

bool library_is_supported() {
    return sqlite3_libversion_number() >= ASAP_NATIVE_MIN_SQLITE_VERSION_NUMBER;
}

}  // namespace asap_native::sqlite
