"""The gateway's HTTP API (FastAPI). Routes are grouped by audience: health, intake, and (later)
the ministry pull API and the operator API under ``/v1``."""
