// Package mcp is opsctl's client side of the Model Context Protocol: the
// configuration of MCP servers, starting them (a child process over stdio,
// or a remote server over streamable HTTP), listing and calling their tools,
// and shutting them down within a bounded time.
//
// It wraps the official SDK (github.com/modelcontextprotocol/go-sdk) so that
// the rest of opsctl sees a few plain types (ServerConfig, Session, Tool,
// Result) and never the SDK's own.
//
// A server is configured by one ServerConfig, for example in YAML:
//
//	github:
//	  command: github-mcp-server
//	  args: [stdio]
//	  env:
//	    GITHUB_TOKEN: ${GITHUB_TOKEN}
//	  timeout: 60s
//	docs:
//	  url: https://mcp.example.com/mcp
//	  headers:
//	    Authorization: Bearer ${DOCS_TOKEN:-anonymous}
//	  optional: true
//
// Choices a user can rely on:
//
//   - A stdio server's environment is PATH, HOME, LANG and TMPDIR plus what
//     its env declares, never opsctl's whole environment, because that
//     holds provider API keys. Secrets reach a server only by name, through
//     ${VAR} references the user wrote.
//   - ${VAR} and ${VAR:-default} are expanded by ServerConfig.Expand; an
//     unset variable without a default is an error at start, naming the
//     server and the variable, rather than an empty token sent to a server.
//   - A stdio server runs in its own process group and, on Linux, dies with
//     opsctl. Close ends it within about two CloseGraces (input closed,
//     then SIGTERM, then SIGKILL to the group), however it behaves.
//   - A tool that fails is a Result with IsError, which the model reads; a
//     server that breaks the protocol, dies or times out is a Go error.
//   - Tools are offered to models as SERVER__TOOL (ToolName), which is why
//     server names may not contain "__".
package mcp
