#include "asap_native/snapshot.hpp"

#include <nlohmann/json.hpp>

#include "asap_native/errors.hpp"

namespace asap_native {

std::string snapshot_data_from_json(const nlohmann::ordered_json& data) {
    if (!data.is_object()) throw InvalidArgument("snapshot data must be a JSON object");
    return data.dump();
}

nlohmann::ordered_json snapshot_data_to_json(const std::string& data_json) {
    return nlohmann::ordered_json::parse(data_json);
}

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
