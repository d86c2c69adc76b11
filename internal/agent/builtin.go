package agent

import (
	"slices"
	"time"
)

// The names of the built-in tools. A task may use one only if its tools list
// (or Config.Tools, when the task gives none) names it.
const (
	ToolCurrentTime = "current_time"
	ToolHTTPGet     = "http_get"
	ToolReadFile    = "read_file"
	ToolRunCommand  = "run_command"
	ToolSearchTasks = "search_tasks"
)

// builtinToolNames returns the built-in tool names in offering order.
func builtinToolNames() []string {
	return []string{ToolCurrentTime, ToolHTTPGet, ToolReadFile, ToolRunCommand, ToolSearchTasks}
}

// isBuiltinTool reports whether name is a built-in tool.
func isBuiltinTool(name string) bool {
	return slices.Contains(builtinToolNames(), name)
}

// builtinEnv is what the built-in tools need from the handler and the run.
type builtinEnv struct {
	cfg Config
	now func() time.Time
	// childEnv is the environment run_command gives its processes: the
	// runner's own, less the API key and the redacted variables.
	childEnv []string
	// searchTasks is what search_tasks calls (Handler.SearchTasks).
	searchTasks SearchTasksFunc
}

// newBuiltinTool returns the built-in tool with the given name, or nil.
func newBuiltinTool(name string, env builtinEnv) Tool {
	switch name {
	case ToolCurrentTime:
		return newCurrentTimeTool(env.now)
	case ToolHTTPGet:
		return newHTTPGetTool(env.cfg.HTTPAllowHosts, env.cfg.HTTPMaxBytes, httpGetTimeout, nil)
	case ToolReadFile:
		return newReadFileTool(env.cfg.ReadFileDirs)
	case ToolRunCommand:
		return newRunCommandTool(env.cfg.RunCommandAllow, env.childEnv)
	case ToolSearchTasks:
		return newSearchTasksTool(env.searchTasks)
	default:
		return nil
	}
}
