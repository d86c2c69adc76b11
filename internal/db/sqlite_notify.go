package db

import (
	"context"
	"database/sql"
	"strings"
)

// RegisterNotifyRules writes the rules' rows and forgets old ones.
func (s *SQLite) RegisterNotifyRules(ctx context.Context, rules []NotifyRule) error {
	if err := checkNotifyRules(rules); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		now := ms(s.now())
		for _, r := range rules {
			on := make([]any, 0, len(r.On)+1)
			on = append(on, r.Key)
			for _, st := range r.On {
				on = append(on, string(st))
				if _, err := tx.ExecContext(ctx, `INSERT INTO notify_rules (status, rule, queue, task_type, seen_at)
					VALUES (?, ?, ?, ?, ?) ON CONFLICT (status, rule) DO UPDATE
					SET queue = excluded.queue, task_type = excluded.task_type, seen_at = excluded.seen_at`,
					string(st), r.Key, r.Queue, r.Type, now); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM notify_rules WHERE rule = ? AND status NOT IN (`+
				placeholders(len(r.On))+`)`, on...); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM notify_rules WHERE seen_at < ?`,
			now-NotifyRuleForgetAfter.Milliseconds()); err != nil {
			return err
		}
		// Rows of a rule no runner has any more are given up, each with
		// its event, and deleted.
		if _, err := tx.ExecContext(ctx, `INSERT INTO task_events (task_id, at, kind, data)
			SELECT o.task_id, ?, ?, json_object('rule', o.rule, 'status', o.status, 'attempts', o.attempts,
				'error', 'no runner has had rule ' || o.rule || ' for `+notifyForgetText+`')
			FROM notify_outbox o WHERE NOT EXISTS (SELECT 1 FROM notify_rules r WHERE r.rule = o.rule)
			ORDER BY o.id`, now, EventNotifyFailed); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM notify_outbox
			WHERE NOT EXISTS (SELECT 1 FROM notify_rules r WHERE r.rule = notify_outbox.rule)`)
		return err
	})
}

// placeholders is n comma-separated question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// ClaimNotifications claims due rows of r.Rules. While none is due it is
// one read, without the write lock.
func (s *SQLite) ClaimNotifications(ctx context.Context, r NotifyClaim) ([]Notification, error) {
	if len(r.Rules) == 0 || r.Limit <= 0 {
		return nil, nil
	}
	keys := make([]any, len(r.Rules))
	for i, k := range r.Rules {
		keys[i] = k
	}
	due := `SELECT id FROM notify_outbox WHERE rule IN (` + placeholders(len(keys)) + `) AND next_try_at <= ?`
	var one int
	err := s.r.QueryRowContext(ctx, due+` LIMIT 1`, append(keys, ms(s.now()))...).Scan(&one)
	if err == sql.ErrNoRows {
		return nil, nil
	} else if err != nil {
		return nil, s.classify(err)
	}
	var out []Notification
	err = s.tx(ctx, func(tx *sql.Tx) error {
		out = nil
		now := s.now()
		args := append([]any{r.Worker, ms(now.Add(r.Lease))}, keys...)
		args = append(args, ms(now), r.Limit)
		rows, err := tx.QueryContext(ctx, `UPDATE notify_outbox SET attempts = attempts + 1, lease_worker = ?,
			next_try_at = ? WHERE id IN (`+due+` ORDER BY next_try_at, id LIMIT ?)
			RETURNING id, task_id, status, rule, created_at, attempts, last_error`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			n := Notification{Worker: r.Worker}
			var created int64
			if err := rows.Scan(&n.ID, &n.TaskID, &n.Status, &n.Rule, &created, &n.Attempt, &n.LastError); err != nil {
				return err
			}
			n.CreatedAt = fromMS(created)
			out = append(out, n)
		}
		return rows.Err()
	})
	sortNotifications(out)
	return out, err
}

// SettleNotification stores what became of a claimed row.
func (s *SQLite) SettleNotification(ctx context.Context, o NotifyOutcome) (bool, error) {
	if err := checkNotifyOutcome(o); err != nil {
		return false, err
	}
	var ok bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := s.now()
		var res sql.Result
		var err error
		if o.Result == NotifyRetry {
			res, err = tx.ExecContext(ctx, `UPDATE notify_outbox SET next_try_at = ?, lease_worker = NULL,
				last_error = ? WHERE id = ? AND lease_worker = ? AND attempts = ?`,
				ms(now.Add(o.RetryIn)), o.Error, o.ID, o.Worker, o.Attempt)
		} else {
			res, err = tx.ExecContext(ctx, `DELETE FROM notify_outbox WHERE id = ? AND lease_worker = ? AND attempts = ?`,
				o.ID, o.Worker, o.Attempt)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if ok = n > 0; err != nil || !ok {
			return err
		}
		if kind, data := o.event(); kind != "" {
			_, err = tx.ExecContext(ctx, insertEvent, o.TaskID, ms(now), kind, string(data))
		}
		return err
	})
	return ok, err
}
