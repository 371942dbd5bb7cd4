// Core models <-> Python objects: what stores accept and what they return.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "asap_native/queued_call.hpp"
#include "asap_native/snapshot.hpp"
#include "asap_native/usage.hpp"

namespace asap_native::bindings {

/// Reads a StateSnapshot, or any object with its attributes, into the core model.
Snapshot snapshot_from_python(pybind11::handle snapshot);
/// Reads a UsageEvent, or any object with its attributes, into the core model.
UsageEvent usage_event_from_python(pybind11::handle event);

/// Parses stored ISO-8601 text into a datetime ('Z' accepted on every Python version).
pybind11::object datetime_from_text(const std::string& text);
/// A count as a Python int (exact beyond 64 bits).
pybind11::object count_to_python(UsageCount count);

// Results of store calls as Python objects, built with the models asap_native registered. A
// stored row that cannot become a model raises asap_native.errors.StoredDataError (also a
// ValueError) naming the row.
pybind11::object to_python(const Nothing&);
pybind11::object to_python(bool value);
pybind11::object to_python(const std::vector<std::int64_t>& versions);
pybind11::object to_python(const Snapshot& snapshot);
pybind11::object to_python(const std::optional<Snapshot>& snapshot);
pybind11::object to_python(const UsageEvent& event);
pybind11::object to_python(const std::vector<UsageEvent>& events);
pybind11::object to_python(const UsageAggregate& total);

}  // namespace asap_native::bindings
