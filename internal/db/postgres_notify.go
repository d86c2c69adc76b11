package db

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// RegisterNotifyRules writes the rules' rows and forgets old ones.
func (s *Postgres) RegisterNotifyRules(ctx context.Context, rules []NotifyRule) error {
	if err := checkNotifyRules(rules); err != nil {
		return err
	}
	return s.tx(ctx, func(tx pgx.Tx) error {
		for _, r := range rules {
			on := make([]string, len(r.On))
			for i, st := range r.On {
				on[i] = string(st)
			}
			if _, err := tx.Exec(ctx, pgSQL(`INSERT INTO notify_rules (status, rule, queue, task_type, seen_at)
				SELECT st, $2, $3, $4, NOW FROM unnest($5::text[]) AS st ON CONFLICT (status, rule) DO UPDATE
				SET queue = excluded.queue, task_type = excluded.task_type, seen_at = excluded.seen_at`),
				s.clock(), pgText(r.Key), pgText(r.Queue), pgText(r.Type), on); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `DELETE FROM notify_rules WHERE rule = $1 AND NOT (status = ANY($2))`,
				pgText(r.Key), on); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, pgSQL(`DELETE FROM notify_rules WHERE seen_at < NOW - $2::bigint * interval '1 millisecond'`),
			s.clock(), NotifyRuleForgetAfter.Milliseconds()); err != nil {
			return err
		}
		// Rows of a rule no runner has any more are given up, each with
		// its event, and deleted.
		_, err := tx.Exec(ctx, pgSQL(`WITH gone AS (DELETE FROM notify_outbox o
				WHERE NOT EXISTS (SELECT 1 FROM notify_rules r WHERE r.rule = o.rule)
				RETURNING o.id, o.task_id, o.rule, o.status, o.attempts)
			INSERT INTO task_events (task_id, at, kind, data)
			SELECT task_id, NOW, $2, json_build_object('rule', rule, 'status', status, 'attempts', attempts,
				'error', 'no runner has had rule ' || rule || ' for `+notifyForgetText+`')
			FROM gone ORDER BY id`), s.clock(), EventNotifyFailed)
		return err
	})
}

// ClaimNotifications claims due rows of r.Rules; rows another runner is
// claiming at the same moment are skipped, not waited for.
func (s *Postgres) ClaimNotifications(ctx context.Context, r NotifyClaim) ([]Notification, error) {
	if len(r.Rules) == 0 || r.Limit <= 0 {
		return nil, nil
	}
	rules := make([]string, len(r.Rules))
	for i, k := range r.Rules {
		rules[i] = pgText(k)
	}
	rows, err := s.pool.Query(ctx, pgSQL(`UPDATE notify_outbox o SET attempts = o.attempts + 1, lease_worker = $2,
			next_try_at = NOW + $3::bigint * interval '1 millisecond'
		FROM (SELECT id FROM notify_outbox WHERE rule = ANY($4) AND next_try_at <= NOW
			ORDER BY next_try_at, id LIMIT $5 FOR UPDATE SKIP LOCKED) c
		WHERE o.id = c.id
		RETURNING o.id, o.task_id, o.status, o.rule, o.created_at, o.attempts, o.last_error`),
		s.clock(), pgText(r.Worker), r.Lease.Milliseconds(), rules, r.Limit)
	if err != nil {
		return nil, s.classify(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Notification, error) {
		n := Notification{Worker: r.Worker}
		err := row.Scan(&n.ID, &n.TaskID, &n.Status, &n.Rule, &n.CreatedAt, &n.Attempt, &n.LastError)
		n.CreatedAt = pgTime(n.CreatedAt)
		return n, err
	})
	if err != nil {
		return nil, s.classify(err)
	}
	sortNotifications(out)
	return out, nil
}

// SettleNotification stores what became of a claimed row: one statement,
// so the row's deletion and the task's event are one transaction.
func (s *Postgres) SettleNotification(ctx context.Context, o NotifyOutcome) (bool, error) {
	if err := checkNotifyOutcome(o); err != nil {
		return false, err
	}
	const fence = ` WHERE id = $2 AND lease_worker = $3 AND attempts = $4`
	args := []any{s.clock(), o.ID, pgText(o.Worker), o.Attempt}
	var q string
	kind, data := o.event()
	switch {
	case o.Result == NotifyRetry:
		q = `UPDATE notify_outbox SET next_try_at = NOW + $5::bigint * interval '1 millisecond',
			lease_worker = NULL, last_error = $6` + fence
		args = append(args, o.RetryIn.Milliseconds(), pgText(o.Error))
	case kind == "":
		// No clock in it: $1 would have no type.
		q, args = `DELETE FROM notify_outbox WHERE id = $1 AND lease_worker = $2 AND attempts = $3`, args[1:]
	default:
		q = `WITH d AS (DELETE FROM notify_outbox` + fence + ` RETURNING task_id)
			INSERT INTO task_events (task_id, at, kind, data) SELECT task_id, NOW, $5, $6::json FROM d`
		args = append(args, kind, pgText(string(data)))
	}
	tag, err := s.pool.Exec(ctx, pgSQL(q), args...)
	if err != nil {
		return false, s.classify(err)
	}
	return tag.RowsAffected() > 0, nil
}
