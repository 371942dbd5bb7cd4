// Which SQLite library the stores run on.
#pragma once

#include <string>

namespace asap_native::sqlite {

/// The SQLite library in use, as sqlite3_libversion() reports it (e.g. "3.50.4"): the bundled
/// copy in wheels, the system's in a developer build.
std::string library_version();

/// True when the core was built with the SQLite copy in third_party/ (ASAP_NATIVE_BUNDLED_SQLITE)
/// rather than the system's libsqlite3. That copy is private to the extension: a connection
/// that Python's sqlite3 module opens on the same file in the same process neither sees its
/// locks nor is seen (POSIX locks are per process), see README "Bundled SQLite".
bool library_is_bundled();

/// The oldest SQLite the stores work with, e.g. "3.37.0" (set once, in CMakeLists.txt).
std::string minimum_version();

/// False when the SQLite library loaded at run time is older than minimum_version(), which
/// happens when a system build meets an older libsqlite3 than the headers it was compiled with.
bool library_is_supported();

}  // namespace asap_native::sqlite
