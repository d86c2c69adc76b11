package db

// ScheduleStore is the part of the Store for recurring schedules (migration 9).
type ScheduleStore interface{}
