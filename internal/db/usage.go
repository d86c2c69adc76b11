package db

// UsageStore is the part of the Store for tokens and cost by model, queue or type.
type UsageStore interface{}
