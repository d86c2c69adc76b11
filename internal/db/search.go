package db

// SearchStore is the part of the Store for full-text search over tasks (migration 8).
type SearchStore interface{}
