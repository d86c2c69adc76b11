package db

// FlowStore is the part of the Store for task dependencies (migration 10).
type FlowStore interface{}
