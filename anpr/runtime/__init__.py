"""What every service shares: config, server bootstrap, auth, telemetry, database, outbox."""
