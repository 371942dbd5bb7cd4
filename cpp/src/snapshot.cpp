#include "asap_native/snapshot.hpp"

#include <string>

#include "asap_native/errors.hpp"

namespace asap_native {

void validate_task_key(const std::string& task_id, const std::int64_t* version) {
    if (task_id.empty()) throw InvalidArgument("task_id must be a non-empty string");
    if (version != nullptr && *version < 1)
        throw InvalidArgument("version must be >= 1, got " + std::to_string(*version));
}

void validate_snapshot(const Snapshot& snapshot) {
    validate_task_key(snapshot.task_id, &snapshot.version);
    if (snapshot.id.empty()) throw InvalidArgument("snapshot id must be a non-empty string");
    if (snapshot.created_at.empty())
        throw InvalidArgument("snapshot created_at must be an ISO-8601 timestamp");
}

}  // namespace asap_native
