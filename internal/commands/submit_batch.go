package commands

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"

	"github.com/opsctl/opsctl/internal/db"
	"github.com/opsctl/opsctl/internal/taskio"
)

// readBatch parses and validates every line before anything is written, so
// a bad line 9,000 stops the batch with nothing stored. Exec lines without
// a "dir" run in cwd, and a relative "dir" is taken from it.
//
// Lines are read in blocks of batchBlockLines and each block is parsed by
// as many goroutines as there are CPUs; the first bad line, in line order,
// is the one reported, as if they were parsed one by one.
func readBatch(r io.Reader, f *Factory, cwd string) ([]db.NewTask, []int, error) {
	p := batchParser{registry: f.Registry, cwd: cwd, workers: 1}
	// The handlers read the config when first used: loaded here, before
	// the goroutines, they only read it. A config that does not load
	// leaves the lines to be parsed one by one, each saying so as before.
	if _, err := f.Config(); err == nil {
		p.workers = runtime.GOMAXPROCS(0)
	}
	br := bufio.NewReaderSize(r, 64*1024)
	var buf []byte
	for n := 1; ; n++ {
		line, size, err := readLine(br, buf, taskio.MaxLineBytes)
		if err != nil && err != io.EOF {
			return p.fail(usageErrorf("batch line %d: %v", n, err))
		}
		if size > taskio.MaxLineBytes {
			return p.fail(usageErrorf("batch line %d is %s", n, taskio.SizeOver(size, taskio.MaxLineBytes)))
		}
		buf = line
		if line = bytes.TrimSpace(line); len(line) > 0 {
			if err := p.add(n, line); err != nil {
				return nil, nil, err
			}
		}
		if err == io.EOF {
			break
		}
	}
	if err := p.parse(); err != nil {
		return nil, nil, err
	}
	if len(p.ts) == 0 {
		return nil, nil, usageErrorf("batch is empty")
	}
	if err := resolveBatchRefs(p.ts, p.refs, p.lines); err != nil {
		return nil, nil, err
	}
	return p.ts, p.lines, nil
}

// batchBlockLines is how many lines readBatch holds before parsing them.
const batchBlockLines = 4096

// batchParser parses the lines of a batch a block at a time.
type batchParser struct {
	registry taskio.Validator
	cwd      string
	workers  int

	text  []byte // the lines of the block, one after another
	ends  []int  // where each line of the block ends in text
	nums  []int  // and its line number
	errs  []error
	ts    []db.NewTask
	lines []int   // the line number of each task, for errors from the store
	refs  [][]int // each task's "#N" dependencies on earlier lines
}

// add takes line n, parsing the block once it is full.
func (p *batchParser) add(n int, line []byte) error {
	p.text = append(p.text, line...)
	p.ends = append(p.ends, len(p.text))
	p.nums = append(p.nums, n)
	if len(p.nums) < batchBlockLines {
		return nil
	}
	return p.parse()
}

// fail returns err, a problem reading a line, unless a line before it is
// bad: that one is the batch's first error.
func (p *batchParser) fail(err error) ([]db.NewTask, []int, error) {
	if perr := p.parse(); perr != nil {
		return nil, nil, perr
	}
	return nil, nil, err
}

// parse parses and validates the lines of the block, appends their tasks
// and empties the block. It returns the error of its first bad line.
func (p *batchParser) parse() error {
	k := len(p.nums)
	if k == 0 {
		return nil
	}
	base := len(p.ts)
	p.ts = append(p.ts, make([]db.NewTask, k)...)
	p.refs = append(p.refs, make([][]int, k)...)
	p.errs = append(p.errs[:0], make([]error, k)...)
	parseRange := func(from, to int) {
		start := 0
		if from > 0 {
			start = p.ends[from-1]
		}
		for i := from; i < to; i++ {
			p.ts[base+i], p.refs[base+i], p.errs[i] = taskio.ParseBatchLine(p.text[start:p.ends[i]], p.registry, p.cwd)
			start = p.ends[i]
		}
	}
	if w := min(p.workers, k/64); w > 1 {
		var wg sync.WaitGroup
		for j := range w {
			wg.Go(func() { parseRange(j*k/w, (j+1)*k/w) })
		}
		wg.Wait()
	} else {
		parseRange(0, k)
	}
	for i, err := range p.errs {
		if err != nil {
			return usageErrorf("batch line %d: %v", p.nums[i], err)
		}
	}
	p.lines = append(p.lines, p.nums...)
	p.text, p.ends, p.nums = p.text[:0], p.ends[:0], p.nums[:0]
	return nil
}

// readLine reads one line into buf[:0] and returns it without its newline,
// and its size. A line over max bytes is read to its end, to say how long
// it was, but not kept. At the end of the input it returns io.EOF, with
// the last line if that had no newline.
func readLine(br *bufio.Reader, buf []byte, max int64) ([]byte, int64, error) {
	buf = buf[:0]
	var size int64
	for {
		chunk, err := br.ReadSlice('\n')
		if err == nil {
			chunk = chunk[:len(chunk)-1]
		}
		size += int64(len(chunk))
		if size <= max {
			buf = append(buf, chunk...)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return buf, size, err
	}
}

func runSubmitBatch(ctx context.Context, o *SubmitOptions) error {
	if o.Input != "" || o.Prompt != "" || len(o.Command) > 0 || o.Wait {
		return usageErrorf("--batch takes its tasks from the file; drop --input, --prompt, --wait and the command")
	}
	for _, name := range []string{"follow", "dir", "env", "model", "provider", "system", "base-url", "tool", "mcp", "max-steps", "max-tokens"} {
		if name == "follow" && o.Follow || o.changed(name) {
			return usageErrorf("--batch takes its tasks from the file; --%s goes with a single task", name)
		}
	}
	cwd, err := submitDir()
	if err != nil {
		return err
	}
	var r io.Reader = o.F.IO.In
	if o.Batch != "-" {
		file, err := os.Open(o.Batch)
		if err != nil {
			return usageErrorf("read --batch: %v", err)
		}
		defer file.Close()
		r = file
	}
	after, err := parseAfterFlag(o.After)
	if err != nil {
		return err
	}
	ts, lines, err := readBatch(r, o.F, cwd)
	if err != nil {
		return err
	}
	for i := range ts {
		ts[i].After = append(ts[i].After, after...)
	}
	s, err := o.F.Store(ctx)
	if err != nil {
		return err
	}
	// Stored batchTxTasks per transaction, in order; the ids of each are
	// printed once it is committed.
	w := bufio.NewWriterSize(o.F.IO.Out, 64*1024)
	var num [20]byte // an id's digits
	stored, existed := 0, 0
	var firstID, lastID int64 // the smallest and largest id this batch created
	// The ids of the tasks stored so far, for "#N" in later transactions.
	ids := make([]int64, 0, len(ts))
	for stored < len(ts) {
		end := min(stored+batchTxTasks, len(ts))
		rs, err := s.SubmitBatch(ctx, chunkDependencies(ts, stored, end, ids))
		if err != nil {
			if ferr := w.Flush(); ferr != nil {
				return ferr
			}
			return batchStoreError(err, lines, stored, existed, firstID, lastID)
		}
		for _, r := range rs {
			ids = append(ids, r.ID)
			w.Write(strconv.AppendInt(num[:0], r.ID, 10))
			w.WriteByte('\n')
			switch {
			case r.Existed:
				existed++
			case firstID == 0:
				firstID, lastID = r.ID, r.ID
			default:
				firstID, lastID = min(firstID, r.ID), max(lastID, r.ID)
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
		stored = end
	}
	if !o.Quiet {
		fmt.Fprintf(o.F.IO.ErrOut, "submitted %d tasks", len(ts)-existed)
		if existed > 0 {
			fmt.Fprintf(o.F.IO.ErrOut, " (%d keys matched earlier tasks)", existed)
		}
		fmt.Fprintln(o.F.IO.ErrOut)
	}
	return nil
}

// batchStoreError says what a store error left behind: nothing, when it
// came in the first transaction, else the lines before the failed
// transaction (stored of them, existed of which matched earlier tasks'
// keys; firstID and lastID are the smallest and largest new ids), so that
// the user can resume after them. It keeps err's exit code.
func batchStoreError(err error, lines []int, stored, existed int, firstID, lastID int64) error {
	var be *db.BatchError
	prefix := ""
	if errors.As(err, &be) && stored+be.Index < len(lines) {
		prefix = fmt.Sprintf("batch line %d: ", lines[stored+be.Index])
		err = be.Err
	}
	if stored == 0 {
		if prefix == "" {
			return err
		}
		return fmt.Errorf("%s%w; nothing was submitted", prefix, err)
	}
	made := ""
	switch created := stored - existed; {
	case created == 0:
		made = "no new tasks"
	case created == 1:
		made = fmt.Sprintf("1 new task, id %d", firstID)
	default:
		made = fmt.Sprintf("%d new tasks, ids %d-%d", created, firstID, lastID)
	}
	return fmt.Errorf("%s%w; lines %d-%d are stored (%s), nothing from line %d on",
		prefix, err, lines[0], lines[stored-1], made, lines[stored])
}

// batchTxTasks is how many tasks of a batch are stored per transaction: a
// transaction holds the SQLite write lock, and one that holds it for
// seconds lets other runners' leases expire. Batches up to this size are
// all or nothing.
const batchTxTasks = 10_000
