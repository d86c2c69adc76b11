package mcp

import (
	"encoding/json"
	"fmt"
	"strings"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// toResult turns the SDK's result into text a model can read. Nothing is
// dropped silently: content that is not text becomes a one-line summary,
// so the model at least knows that the tool returned it.
func toResult(r *sdk.CallToolResult) Result {
	var lines []string
	hasText := false
	for _, c := range r.Content {
		if t, ok := c.(*sdk.TextContent); ok {
			hasText = true
			lines = append(lines, t.Text)
			continue
		}
		lines = append(lines, summarize(c))
	}
	if !hasText && r.StructuredContent != nil {
		if b, err := json.Marshal(r.StructuredContent); err == nil {
			lines = append(lines, string(b))
		} else {
			lines = append(lines, fmt.Sprintf("[structured content that is not JSON: %v]", err))
		}
	}
	return Result{Text: strings.Join(lines, "\n"), IsError: r.IsError}
}

// summarize describes one non-text content item on one line, such as
// "[image image/png, 1234 bytes]".
func summarize(c sdk.Content) string {
	switch c := c.(type) {
	case *sdk.ImageContent:
		return fmt.Sprintf("[image %s, %d bytes]", orUnknown(c.MIMEType), len(c.Data))
	case *sdk.AudioContent:
		return fmt.Sprintf("[audio %s, %d bytes]", orUnknown(c.MIMEType), len(c.Data))
	case *sdk.ResourceLink:
		parts := []string{c.URI}
		if c.Name != "" {
			parts = append(parts, fmt.Sprintf("name %q", c.Name))
		}
		if c.MIMEType != "" {
			parts = append(parts, c.MIMEType)
		}
		if c.Size != nil {
			parts = append(parts, fmt.Sprintf("%d bytes", *c.Size))
		}
		return "[resource link " + strings.Join(parts, ", ") + "]"
	case *sdk.EmbeddedResource:
		if c.Resource == nil {
			return "[resource, empty]"
		}
		r := c.Resource
		size := len(r.Blob)
		if r.Text != "" {
			size = len(r.Text)
		}
		return fmt.Sprintf("[resource %s %s, %d bytes]", r.URI, orUnknown(r.MIMEType), size)
	case nil:
		return "[empty content]"
	default:
		// The SDK rejects unknown content types while decoding, so this is
		// a type it knows but a tool result should not carry (tool_use,
		// tool_result); say what it is rather than drop it.
		return fmt.Sprintf("[%s content]", strings.TrimPrefix(fmt.Sprintf("%T", c), "*mcp."))
	}
}

// orUnknown stands in for a missing MIME type.
func orUnknown(mime string) string {
	if mime == "" {
		return "of unknown type"
	}
	return mime
}
