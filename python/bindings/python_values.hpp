// Reading store arguments out of Python objects, with clear TypeErrors.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>

#include "asap_native/snapshot.hpp"
#include "asap_native/timestamp.hpp"
#include "asap_native/usage.hpp"

namespace asap_native::bindings {

/// A str argument, possibly empty, as UTF-8; raises TypeError / ValueError naming `what`.
std::string any_text(pybind11::handle value, const char* what);
/// A non-empty str argument; raises TypeError / ValueError naming `what`.
std::string require_text(pybind11::handle value, const char* what);
/// None or an int >= 1 (bool rejected); raises TypeError / ValueError naming `what`.
std::optional<std::int64_t> optional_version(pybind11::handle value, const char* what);
/// A datetime (via isoformat()) or an ISO-8601 str, validated; raises TypeError / ValueError.
std::string timestamp_text(pybind11::handle value, const char* what);
/// The instant of a datetime or ISO-8601 str (naive means UTC).
InstantMicros instant_of(pybind11::handle value, const char* what);
/// Parses stored ISO-8601 text into a datetime ('Z' accepted on every Python version).
pybind11::object datetime_from_text(const std::string& text);

/// Reads a StateSnapshot, or any object with its attributes, into the core model.
Snapshot snapshot_from_python(pybind11::handle snapshot);
/// Reads a UsageEvent, or any object with its attributes, into the core model.
UsageEvent usage_event_from_python(pybind11::handle event);

}  // namespace asap_native::bindings
