"""Web app tooling: TypeScript declarations from the protocol schema (typegen)."""
