// The bridge from store threads to asyncio: finished calls and the queue they go through.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <exception>
#include <memory>
#include <utility>

#include "asap_native/completion_queue.hpp"
#include "asap_native/queued_call.hpp"
#include "models.hpp"
#include "sql_values.hpp"

namespace asap_native::bindings {

/// A finished call as an event loop's queue carries it: the error, or a result that becomes
/// a Python object only on the loop's thread (store threads never touch Python).
class PyCompletion : public Completion {
public:
    using Completion::Completion;
    std::exception_ptr error;

    /// (id, True, result) or (id, False, exception). A result that cannot become a Python
    /// object (a row that is not valid JSON, say) fails this call alone, with its exception.
    /// Throws only when not even the exception can be built (out of memory); calling again
    /// then gives the same entry.
    pybind11::tuple to_entry() const;

private:
    virtual pybind11::object result() const = 0;
};

/// The completion of a call returning `Result`.
template <typename Result>
class CompletionOf final : public PyCompletion {
public:
    using PyCompletion::PyCompletion;
    Result value{};

private:
    pybind11::object result() const override { return to_python(value); }
};

/// The completion queue of one event loop (Python's _core.CompletionQueue).
class LoopQueue {
public:
    LoopQueue();

    /// Descriptor for loop.add_reader: readable exactly while finished calls wait.
    int fileno() const { return queue_->fd(); }

    /// Up to `max_items` finished calls as (id, ok, result-or-exception). Never loses one:
    /// if handing them over fails part-way, what was not handed over goes back to the queue,
    /// which stays signalled, and the error propagates.
    pybind11::list drain(std::size_t max_items);

    /// {"pushed", "wakeups", "drains", "waiting"} so far.
    pybind11::dict stats() const;

    /// The one path from a queued store call to the event loop: `submit(done)` hands `done`
    /// to a store's queued call, which either throws (nothing was queued) or calls `done`
    /// exactly once, later, on any thread. Returns the id whose result drain() will deliver.
    template <typename Result, typename Submit>
    std::uint64_t submit(Submit&& submit) {
        // Allocated now, on the caller's thread: completing the call later cannot fail.
        auto completion = std::make_unique<CompletionOf<Result>>(queue_->next_id());
        CompletionOf<Result>* slot = completion.get();
        std::shared_ptr<CompletionQueue> target = queue_;
        std::forward<Submit>(submit)(
            Done<Result>([target, slot](Result value, std::exception_ptr error) {
                slot->value = std::move(value);
                slot->error = std::move(error);
                target->push(std::unique_ptr<Completion>(slot));
            }));
        completion.release();  // the call owns it now, and hands it to the queue when done
        return slot->id();
    }

private:
    std::shared_ptr<CompletionQueue> queue_;
};

/// Registers CompletionQueue on the module.
void register_completions(pybind11::module_& module);

}  // namespace asap_native::bindings
