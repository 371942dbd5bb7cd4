// The bridge from executor threads to asyncio: completed results and the queue they go through.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <variant>
#include <vector>

#include "asap_native/completion_queue.hpp"
#include "asap_native/snapshot.hpp"
#include "asap_native/usage.hpp"

namespace asap_native::bindings {

/// One finished request. Built on an executor thread, so it holds no Python objects.
struct Completion {
    std::uint64_t id = 0;
    std::exception_ptr error;
    std::variant<std::monostate, bool, std::vector<std::int64_t>, std::optional<Snapshot>,
                 std::vector<UsageEvent>, UsageAggregate>
        value;
};

using NativeCompletionQueue = CompletionQueue<Completion>;

/// The Python-facing queue of one event loop: owns the native queue and the factories that
/// turn results into model objects when the loop drains it.
class PyCompletionQueue {
public:
    PyCompletionQueue(pybind11::object snapshot_factory, pybind11::object event_factory,
                      pybind11::object aggregate_factory);

    /// Descriptor for loop.add_reader.
    int fileno() const { return queue_->fd(); }
    /// Up to `max_items` finished requests as (id, ok, result-or-exception), converted to
    /// Python objects.
    pybind11::list drain(std::size_t max_items);
    /// {"pushed", "wakeups", "drains"} so far.
    pybind11::dict stats() const;
    /// The queue executor callbacks push into (kept alive by them).
    const std::shared_ptr<NativeCompletionQueue>& native() const { return queue_; }

private:
    pybind11::object to_python(Completion& completion);

    std::shared_ptr<NativeCompletionQueue> queue_;
    pybind11::object snapshot_factory_;
    pybind11::object event_factory_;
    pybind11::object aggregate_factory_;
};

/// Builds the model object of a snapshot with `factory(fields)`, `fields` a fresh dict.
pybind11::object snapshot_to_python(const Snapshot& snapshot, const pybind11::object& factory);
/// The (task_id, agent_id, consumer_id, (counters), timestamp) row of an event.
pybind11::tuple event_to_tuple(const UsageEvent& event);
/// The (agent_id, period, tokens, duration, tasks, api_calls) row of an aggregate.
pybind11::tuple aggregate_to_tuple(const UsageAggregate& total);

/// Registers CompletionQueue on the module.
void register_completions(pybind11::module_& module);

}  // namespace asap_native::bindings
