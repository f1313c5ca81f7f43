"""Cross-cutting plumbing shared by every service (no business code)."""
