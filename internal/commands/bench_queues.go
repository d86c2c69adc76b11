package commands

import "github.com/opsctl/opsctl/internal/db"

// benchLimitedQueue is the queue that `bench --limited N` puts every other
// task in, limited to N running at once; the rest go to the default queue,
// unlimited. It measures the claim's limited path against the common one.
const benchLimitedQueue = "bench-limited"

// benchQueueLimits are the limits bench's runners claim with: none unless
// --limited is given.
func benchQueueLimits(limited int) map[string]db.QueueLimit {
	if limited <= 0 {
		return nil
	}
	return map[string]db.QueueLimit{benchLimitedQueue: {Concurrency: limited}}
}

// setBenchQueues sets the queues of the next tasks to insert, after
// inserted ones: every other one limited, with --limited.
func setBenchQueues(ts []db.NewTask, limited, inserted int) {
	if limited <= 0 {
		return
	}
	for i := range ts {
		ts[i].Queue = ""
		if (inserted+i)%2 == 0 {
			ts[i].Queue = benchLimitedQueue
		}
	}
}
