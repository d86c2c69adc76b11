package db

// ApprovalStore is the part of the Store for approvals, checkpoints and the waiting status (migration 7).
type ApprovalStore interface{}
