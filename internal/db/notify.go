package db

// NotifyStore is the part of the Store for the notification outbox
// (migration 12).
type NotifyStore interface{}
