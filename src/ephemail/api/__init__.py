"""HTTP: REST API, health endpoints (web UI, live events and MCP come later)."""
