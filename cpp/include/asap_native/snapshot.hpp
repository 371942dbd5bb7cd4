// The snapshot model: one saved version of a task's state.
#pragma once

#include <cstdint>
#include <string>

namespace asap_native {

/// One version of a task's state, as stored.
///
/// `data_json` holds the state as the text of a JSON object; the text is stored and returned
/// byte for byte, so key order is preserved. `created_at` is an ISO-8601 timestamp string.
struct Snapshot {
    std::string task_id;
    std::string id;
    std::int64_t version = 1;
    std::string data_json = "{}";
    bool checkpoint = false;
    std::string created_at;
};

/// Throws InvalidArgument unless `created_at` is an ISO-8601 timestamp. Any id (empty too)
/// and any version are stored as given, as asap-protocol stores them; reads with a key that
/// matches nothing (version 0, say) find nothing.
void validate_snapshot(const Snapshot& snapshot);

}  // namespace asap_native
