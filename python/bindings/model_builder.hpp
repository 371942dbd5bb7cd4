// Result models built without their constructors' Python overhead.
#pragma once

#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "asap_native/usage.hpp"

namespace asap_native::bindings {

/// Builds instances of one class as pydantic's `model_construct` does (and as a dataclass's
/// constructor leaves them): `object.__new__(cls)`, then the fields as its `__dict__`, plus
/// pydantic's three instance slots for a pydantic model. No validation: for rows of our own
/// tables, whose shape the schema guarantees. asap_native.models checks that an instance
/// built this way equals one built by the class itself before using it.
class DirectLayout {
public:
    DirectLayout(pybind11::handle cls, const std::vector<std::string>& fields, bool pydantic);
    /// A new instance whose fields take `values`, in the order of the field names (borrowed).
    pybind11::object build(PyObject* const* values) const;
    std::size_t size() const { return names_.size(); }

private:
    pybind11::object cls_;
    std::vector<pybind11::object> names_;
    pybind11::object fields_set_;  // frozenset of the field names
    bool pydantic_;
};

/// The usage event model factory, in C++: builds the event and its metrics straight from a
/// core UsageEvent. Also callable from Python with the row tuple every event factory takes:
/// (task_id, agent_id, consumer_id, (tokens_in, tokens_out, duration_ms, api_calls), timestamp).
class UsageEventBuilder {
public:
    UsageEventBuilder(pybind11::handle event_cls, pybind11::handle metrics_cls, bool pydantic);
    /// The model of `event`, whose timestamp the caller already read as a datetime.
    pybind11::object build(const UsageEvent& event, pybind11::handle timestamp) const;
    pybind11::object call(pybind11::tuple row) const;

private:
    pybind11::object assemble(pybind11::handle task_id, pybind11::handle agent_id,
                              pybind11::handle consumer_id, PyObject* const* counters,
                              pybind11::handle timestamp) const;

    DirectLayout event_;
    DirectLayout metrics_;
};

/// The registered usage event factory when it is a UsageEventBuilder, else null.
const UsageEventBuilder* usage_event_builder();

/// Registers _core.UsageEventBuilder.
void register_model_builders(pybind11::module_& module);

}  // namespace asap_native::bindings
