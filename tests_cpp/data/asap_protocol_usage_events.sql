CREATE TABLE IF NOT EXISTS usage_events (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    metrics TEXT NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_usage_agent_timestamp
ON usage_events (agent_id, timestamp);
CREATE INDEX IF NOT EXISTS idx_usage_consumer_timestamp
ON usage_events (consumer_id, timestamp);
