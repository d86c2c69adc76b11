package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/viper"
)

// fileKeys lists the keys a config file sets, flattened (runner.lease).
func fileKeys(file string) ([]string, error) {
	v := viper.New()
	v.SetConfigFile(file)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return nil, fmt.Errorf("config %s: %w", file, err)
	}
	keys := v.AllKeys()
	slices.Sort(keys)
	return keys, nil
}

// knownKeys lists every key the Config type reads, from its mapstructure
// tags, so that a new setting is known the day it is added.
func knownKeys() []string {
	var out []string
	var walk func(prefix string, t reflect.Type)
	walk = func(prefix string, t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
			if tag == "" || tag == "-" {
				continue
			}
			if f.Type.Kind() == reflect.Struct && f.Type.String() != "time.Duration" {
				walk(prefix+tag+".", f.Type)
				continue
			}
			out = append(out, prefix+tag)
		}
	}
	walk("", reflect.TypeOf(Config{}))
	return out
}

// unknownKeys warns about keys no setting reads: a typo (runner.workrs)
// would otherwise be ignored without a word.
func unknownKeys(file string, keys []string) []string {
	known := knownKeys()
	var out []string
	for _, k := range keys {
		if slices.Contains(known, k) || k == "mcp_servers" || strings.HasPrefix(k, "mcp_servers.") || underMapKey(k) {
			continue
		}
		msg := fmt.Sprintf("config %s: unknown key %q is ignored", file, k)
		if near := nearest(k, known); near != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", near)
		}
		out = append(out, msg)
	}
	return out
}

// nearest returns the known key closest to k, if it is close: at most two
// edits apart.
func nearest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(k, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
