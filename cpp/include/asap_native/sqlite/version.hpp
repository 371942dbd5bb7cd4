// Which SQLite library the stores run on.
#pragma once

#include <string>

namespace asap_native::sqlite {

/// The SQLite library in use, as sqlite3_libversion() reports it (e.g. "3.50.4"): the bundled
/// copy in wheels, the system's in a developer build.
std::string library_version();

/// The oldest SQLite the stores work with, e.g. "3.37.0" (set once, in CMakeLists.txt).
std::string minimum_version();

/// False when the SQLite library loaded at run time is older than minimum_version(), which
/// happens when a system build meets an older libsqlite3 than the headers it was compiled with.
bool library_is_supported();

}  // namespace asap_native::sqlite
