package db

// FlowStore is the part of the Store for task dependencies and queue limits (migration 10).
type FlowStore interface{}
