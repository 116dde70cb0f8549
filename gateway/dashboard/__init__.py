"""The operator dashboard (server-rendered, Vietnamese first)."""
