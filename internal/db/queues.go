package db

// QueueStore is the part of the Store for queue limits and pause
// (migration 11).
type QueueStore interface{}
