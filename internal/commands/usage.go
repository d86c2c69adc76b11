package commands

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
)

// cobraUsage rewrites an argument error cobra made itself into what a
// person can act on: which argument is missing, a flag value's problem in
// words instead of a Go parser's, and a pointer to the command's help. Its
// text may span lines (cobra's "Did you mean this?" suggestions).
func cobraUsage(cmd *cobra.Command, err error) error {
	msg := err.Error()
	if m := argCount.FindStringSubmatch(msg); m != nil && cmd != nil {
		msg = argsMessage(cmd, m)
	}
	msg = goParseError.ReplaceAllStringFunc(msg, func(s string) string {
		switch {
		case strings.HasSuffix(s, "value out of range"):
			return "out of range"
		case strings.HasPrefix(s, "strconv.ParseBool"):
			return "want true or false"
		case strings.HasPrefix(s, "strconv.ParseFloat"):
			return "not a number"
		default:
			return "not a whole number"
		}
	})
	msg = goDurationError.ReplaceAllString(msg, "not a duration (like 30s, 5m, 2h)")
	// cobra separates its suggestions with blank lines; keep the lines.
	msg = strings.ReplaceAll(strings.TrimSpace(msg), "\n\n", "\n")
	path := "opsctl"
	if cmd != nil {
		path = cmd.CommandPath()
	}
	return usageErr(fmt.Errorf("%s\nSee '%s --help'.", msg, path))
}

var (
	argCount        = regexp.MustCompile(`^(?:accepts (\d+) arg\(s\), received (\d+)|requires at least (\d+) arg\(s\), only received (\d+)|accepts between (\d+) and (\d+) arg\(s\), received (\d+))$`)
	goParseError    = regexp.MustCompile(`strconv\.Parse\w+: parsing "[^"]*": (?:invalid syntax|value out of range)`)
	goDurationError = regexp.MustCompile(`time: (?:invalid|unknown unit [^ ]+ in) duration "[^"]*"`)
)

// argsMessage says which arguments are missing or how many are too many,
// from the command's Use line ("call SERVER TOOL").
func argsMessage(cmd *cobra.Command, m []string) string {
	names := strings.Fields(cmd.Use)[1:]
	var want, got int
	switch {
	case m[1] != "":
		want, _ = strconv.Atoi(m[1])
		got, _ = strconv.Atoi(m[2])
	case m[3] != "":
		want, _ = strconv.Atoi(m[3])
		got, _ = strconv.Atoi(m[4])
	default:
		want, _ = strconv.Atoi(m[5])
		got, _ = strconv.Atoi(m[7])
	}
	usage := "usage: " + cmd.CommandPath() + " " + strings.Join(names, " ")
	name := strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ")
	if got < want && got < len(names) {
		var missing []string
		for _, n := range names[got:min(want, len(names))] {
			missing = append(missing, argName(n))
		}
		return fmt.Sprintf("%s needs %s (%s)", name, strings.Join(missing, " and "), usage)
	}
	return fmt.Sprintf("%s takes %d argument(s), got %d (%s)", name, want, got, usage)
}

// argName says what a Use placeholder stands for.
func argName(p string) string {
	p = strings.Trim(p, "[]")
	switch strings.TrimSuffix(p, "...") {
	case "ID":
		if strings.HasSuffix(p, "...") {
			return "task ids"
		}
		return "a task id"
	case "SERVER":
		return "an MCP server name"
	case "TOOL":
		return "a tool name"
	case "NAME":
		return "a name"
	}
	return p
}
