package runner

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// keysFDEnv tells a re-executed opsctl which file descriptor holds the
// keys HideKeys took out of its environment.
const keysFDEnv = "OPSCTL_KEYS_FD"

// Undumpable marks this process as not dumpable: another process of the
// same user can then neither read its /proc/PID/environ or mem nor ptrace
// it. Only root (CAP_SYS_PTRACE) still can. Tasks run as the runner's user,
// so without this a task could read the runner's keys.
func Undumpable() {
	_ = unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}

// HideKeys re-executes this process (same pid, same arguments, same
// executable) without the named variables in its initial environment block,
// which /proc/PID/environ shows for the life of the process, whatever the
// process unsets later.
// Their values travel in an anonymous memory file that RestoreKeys reads
// and closes at the start of the new image, which puts them back into the
// process's own (Go) environment only. When none of the names is in the
// initial block it returns nil at once; when the re-exec succeeds it does
// not return.
func HideKeys(names []string) error {
	initial, err := os.ReadFile("/proc/self/environ")
	if err != nil {
		return nil // no /proc: nothing shows the block either
	}
	var keep, keys []string
	for _, kv := range strings.Split(strings.TrimRight(string(initial), "\x00"), "\x00") {
		name, _, _ := strings.Cut(kv, "=")
		if kv != "" && name != "" && slices.Contains(names, name) {
			keys = append(keys, kv)
		} else if kv != "" {
			keep = append(keep, kv)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	fd, err := unix.MemfdCreate("opsctl-keys", 0)
	if err != nil {
		return fmt.Errorf("hide keys: %w", err)
	}
	f := os.NewFile(uintptr(fd), "opsctl-keys")
	if _, err := f.WriteString(strings.Join(keys, "\x00")); err != nil {
		f.Close()
		return fmt.Errorf("hide keys: %w", err)
	}
	if _, err := f.Seek(0, 0); err != nil {
		f.Close()
		return fmt.Errorf("hide keys: %w", err)
	}
	// os.NewFile leaves the descriptor as it was made: without
	// close-on-exec, so the new image inherits it.
	// The executable by its path, not /proc/self/exe, so that the process
	// keeps its name (ps, pgrep and top show "opsctl", not "exe").
	exe, err := os.Executable()
	if err != nil {
		f.Close()
		return fmt.Errorf("hide keys: %w", err)
	}
	err = syscall.Exec(exe, os.Args, append(keep, keysFDEnv+"="+strconv.Itoa(fd)))
	f.Close()
	return fmt.Errorf("hide keys: re-execute: %w", err)
}

// RestoreKeys puts back the variables HideKeys passed on, if this process
// was re-executed by it. It must run before anything reads them.
func RestoreKeys() error {
	v, ok := os.LookupEnv(keysFDEnv)
	if !ok {
		return nil
	}
	os.Unsetenv(keysFDEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return fmt.Errorf("%s=%q: not a file descriptor", keysFDEnv, v)
	}
	f := os.NewFile(uintptr(fd), "opsctl-keys")
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return fmt.Errorf("read keys: %w", err)
	}
	for _, kv := range strings.Split(buf.String(), "\x00") {
		if name, val, ok := strings.Cut(kv, "="); ok && name != "" {
			os.Setenv(name, val)
		}
	}
	return nil
}
