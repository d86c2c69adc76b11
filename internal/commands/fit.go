package commands

import (
	"strings"

	"github.com/olekukonko/tablewriter/pkg/twwidth"
)

// Fitting text to a terminal's width. On a terminal a line wider than the
// window wraps onto the next row: a table turns into a jumble and a
// padded line that is only a few spaces too wide shows as a blank line
// after each row. So on a terminal every line opsctl prints is made to
// fit, cutting text with "…"; piped, nothing is ever cut.

// ellipsis marks text that was cut.
const ellipsis = "…"

// displayWidth is how many terminal columns s takes (escape sequences take
// none). It is the measure tablewriter uses, so a table laid out with it
// is laid out the same way by tablewriter.
func displayWidth(s string) int { return twwidth.Width(s) }

// cutToWidth shortens s to at most w columns, ending it with "…" when it
// was cut. s holds no escape sequences (it was sanitised).
func cutToWidth(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if displayWidth(s) <= w {
		return s
	}
	room := w - displayWidth(ellipsis)
	if room <= 0 {
		return ellipsis
	}
	r := []rune(s)
	// The longest prefix that fits: widths grow with the prefix, so a
	// binary search finds it with a few measurements of whole prefixes
	// (measuring rune by rune would get grapheme clusters wrong).
	lo, hi := 0, len(r)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if displayWidth(string(r[:mid])) <= room {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	for lo > 0 && displayWidth(string(r[:lo])) > room {
		lo--
	}
	return strings.TrimRight(string(r[:lo]), " ") + ellipsis
}

// cutLines cuts each line of s to w columns.
func cutLines(s string, w int) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = cutToWidth(l, w)
	}
	return strings.Join(lines, "\n")
}

// wrapToWidth breaks s into lines of at most w columns, at spaces where it
// can and inside a word that is longer than a line.
func wrapToWidth(s string, w int) []string {
	if w < 1 {
		w = 1
	}
	var lines []string
	for _, para := range strings.Split(s, "\n") {
		line := ""
		for _, word := range strings.Fields(para) {
			for displayWidth(word) > w {
				if line != "" {
					lines = append(lines, line)
					line = ""
				}
				head := cutPrefix(word, w)
				lines = append(lines, head)
				word = word[len(head):]
			}
			switch {
			case line == "":
				line = word
			case displayWidth(line)+1+displayWidth(word) <= w:
				line += " " + word
			default:
				lines = append(lines, line)
				line = word
			}
		}
		lines = append(lines, line)
	}
	return lines
}

// cutPrefix is the longest prefix of s (at least one rune) that fits in w
// columns.
func cutPrefix(s string, w int) string {
	r := []rune(s)
	n := 1
	for n < len(r) && displayWidth(string(r[:n+1])) <= w {
		n++
	}
	return string(r[:n])
}

// minFlexWidth is the least a flexible column is given before the other
// columns are cut too: enough to recognise a name.
const minFlexWidth = 12

// fitWidths lays out columns of the given natural widths, separated by gap
// spaces, in width columns, and returns the width of each. When they fit,
// each gets its natural width. When they do not:
//
//  1. the flexible columns (names, commands, errors, descriptions) share
//     what the others leave: the narrower ones get all they need, the
//     wider ones an equal share, each at least minFlexWidth;
//  2. if that is still too wide, the widest of the other columns are cut,
//     down to their floors (the width of their headers);
//  3. if even that is too wide, the widest columns of all are cut (every
//     column keeps one column, so a window narrower than that overflows).
func fitWidths(natural, floors []int, flex []bool, gap, width int) []int {
	n := len(natural)
	out := append([]int(nil), natural...)
	if n == 0 {
		return out
	}
	room := width - gap*(n-1)
	if sum(out) <= room {
		return out
	}
	var fixed, flexFloor int
	var flexIdx, fixedIdx []int
	for i, w := range natural {
		if flex[i] {
			flexIdx = append(flexIdx, i)
			flexFloor += min(w, minFlexWidth)
		} else {
			fixedIdx = append(fixedIdx, i)
			fixed += w
		}
	}
	if len(flexIdx) > 0 {
		budget := max(room-fixed, flexFloor)
		for k, w := range capWidths(pick(natural, flexIdx), nil, budget) {
			out[flexIdx[k]] = w
		}
		if sum(out) <= room {
			return out
		}
	}
	fl := make([]int, len(fixedIdx))
	for k, i := range fixedIdx {
		fl[k] = min(natural[i], max(floors[i], 1))
	}
	if budget := room - (sum(out) - sum(pick(out, fixedIdx))); sum(fl) <= budget {
		for k, w := range capWidths(pick(natural, fixedIdx), fl, budget) {
			out[fixedIdx[k]] = w
		}
		return out
	}
	return capWidths(out, nil, room)
}

// capWidths cuts the widest of ws down to one level, the highest at which
// they sum to at most budget, never below their floors (nil: 1 each), and
// hands what is left under the budget to the cut ones, one column each
// from the left. When the floors alone are over the budget, it returns
// the floors.
func capWidths(ws, floors []int, budget int) []int {
	out := append([]int(nil), ws...)
	if sum(out) <= budget {
		return out
	}
	floor := func(i int) int {
		if floors == nil {
			return min(ws[i], 1)
		}
		return min(ws[i], floors[i])
	}
	width := func(i, level int) int { return max(min(ws[i], level), floor(i)) }
	level := 0
	for l := 1; ; l++ {
		total := 0
		for i := range ws {
			total += width(i, l)
		}
		if total > budget {
			break
		}
		level = l
	}
	total := 0
	for i := range ws {
		out[i] = width(i, level)
		total += out[i]
	}
	for i, w := range ws {
		if total >= budget {
			break
		}
		if w > out[i] {
			out[i]++
			total++
		}
	}
	return out
}

func pick(ws []int, idx []int) []int {
	out := make([]int, len(idx))
	for k, i := range idx {
		out[k] = ws[i]
	}
	return out
}

func sum(ws []int) int {
	t := 0
	for _, w := range ws {
		t += w
	}
	return t
}

// expandTabs replaces tabs with spaces up to the next multiple of 8
// columns, as a terminal would move the cursor: a tab has no width of its
// own to measure.
func expandTabs(s string) string {
	if !strings.Contains(s, "\t") {
		return s
	}
	var b strings.Builder
	col := 0
	for _, r := range s {
		switch r {
		case '\t':
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
		case '\n':
			b.WriteRune(r)
			col = 0
		default:
			b.WriteRune(r)
			col += displayWidth(string(r))
		}
	}
	return b.String()
}
