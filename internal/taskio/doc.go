// Package taskio is what the two front doors, the commands and `opsctl
// serve`, share about tasks coming in and going out: the limits and checks
// of a submitted task (ParseLine reads a `submit --batch` line or an API
// request body) and the stable JSON shapes of tasks and events that
// `show -o json`, `logs -o jsonl` and the HTTP API print.
package taskio
