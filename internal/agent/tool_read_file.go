package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/opsctl/opsctl/internal/llm"
)

// readFileMaxBytes bounds what read_file returns, so one file cannot fill
// the model's context.
const readFileMaxBytes = 64 << 10

// readFileArgs are read_file's arguments.
type readFileArgs struct {
	Path string `json:"path"`
}

// newReadFileTool returns read_file, which reads text files under the
// configured directories only. A path is cleaned and its symlinks resolved
// before the check, so neither "../" nor a symlink can lead out; the file is
// then opened through os.Root, which refuses escapes again at open time, so
// a symlink swapped in between the check and the open cannot lead out either.
func newReadFileTool(dirs []string) Tool {
	return funcTool{
		spec: llm.ToolSpec{
			Name: ToolReadFile,
			Description: "Reads a text file (at most 64 KiB) under the allowed directories; " +
				"a relative path is taken relative to the first allowed directory.",
			Schema: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string","minLength":1,` +
				`"description":"the file's path"}},"required":["path"],"additionalProperties":false}`),
		},
		call: func(_ context.Context, raw json.RawMessage) (string, error) {
			var args readFileArgs
			if err := json.Unmarshal(raw, &args); err != nil {
				return "", ToolErrorf("invalid arguments: %v", err)
			}
			return readAllowedFile(dirs, args.Path)
		},
	}
}

// readAllowedFile reads path if it lies under one of dirs.
func readAllowedFile(dirs []string, path string) (string, error) {
	if len(dirs) == 0 {
		return "", ToolErrorf("read_file is not configured with any allowed directory (agent.read_file_dirs)")
	}
	p := path
	if !filepath.IsAbs(p) {
		p = filepath.Join(dirs[0], p)
	}
	p = filepath.Clean(p)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", ToolErrorf("%s: no such file", path)
		}
		return "", ToolErrorf("%s: %v", path, err)
	}
	root, rel, ok := allowedRoot(dirs, real)
	if !ok {
		return "", ToolErrorf("%s is outside the allowed directories (%s)", path, strings.Join(dirs, ", "))
	}
	return readUnderRoot(root, rel, path)
}

// allowedRoot returns the resolved allowed directory holding real, and
// real's path relative to it.
func allowedRoot(dirs []string, real string) (root, rel string, ok bool) {
	for _, d := range dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			continue
		}
		rd, err := filepath.EvalSymlinks(abs)
		if err != nil {
			continue
		}
		r, err := filepath.Rel(rd, real)
		if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) || filepath.IsAbs(r) {
			continue
		}
		return rd, r, true
	}
	return "", "", false
}

// readUnderRoot opens rel inside root and reads at most readFileMaxBytes.
func readUnderRoot(root, rel, shown string) (string, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return "", ToolErrorf("%s: %v", shown, err)
	}
	defer r.Close()
	f, err := r.Open(rel)
	if err != nil {
		return "", ToolErrorf("%s: %v", shown, unwrapPathError(err))
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", ToolErrorf("%s: %v", shown, err)
	}
	if !info.Mode().IsRegular() {
		return "", ToolErrorf("%s is not a regular file", shown)
	}
	data, err := io.ReadAll(io.LimitReader(f, readFileMaxBytes+1))
	if err != nil {
		return "", ToolErrorf("%s: %v", shown, err)
	}
	text := strings.ToValidUTF8(string(data[:min(len(data), readFileMaxBytes)]), "\uFFFD")
	if len(data) > readFileMaxBytes {
		text += fmt.Sprintf("\n[truncated: only the first %d of %d bytes are shown]", readFileMaxBytes, info.Size())
	}
	return text, nil
}

// unwrapPathError drops the *fs.PathError wrapper, whose path is the one
// relative to the root and would only confuse the model.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
