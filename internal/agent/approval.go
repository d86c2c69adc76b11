package agent

import "time"

// DefaultApprovalTimeout is how long a tool call waits for a decision when
// the config sets no agent.approval_timeout.
const DefaultApprovalTimeout = 24 * time.Hour
