package mcp

import (
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/stretchr/testify/require"
)

func TestToResult(t *testing.T) {
	t.Parallel()
	size := int64(42)
	tests := []struct {
		name string
		in   *sdk.CallToolResult
		want Result
	}{
		{
			name: "texts joined by newlines",
			in:   &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "a"}, &sdk.TextContent{Text: "b"}}},
			want: Result{Text: "a\nb"},
		},
		{
			name: "tool error",
			in:   &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "boom"}}, IsError: true},
			want: Result{Text: "boom", IsError: true},
		},
		{
			name: "every other content type summarised in place",
			in: &sdk.CallToolResult{Content: []sdk.Content{
				&sdk.TextContent{Text: "see:"},
				&sdk.ImageContent{Data: make([]byte, 1234), MIMEType: "image/png"},
				&sdk.AudioContent{Data: make([]byte, 10), MIMEType: "audio/wav"},
				&sdk.ResourceLink{URI: "file:///a.txt", Name: "a", MIMEType: "text/plain", Size: &size},
				&sdk.EmbeddedResource{Resource: &sdk.ResourceContents{URI: "file:///b.bin", MIMEType: "application/octet-stream", Blob: make([]byte, 7)}},
				&sdk.EmbeddedResource{Resource: &sdk.ResourceContents{URI: "file:///c.txt", Text: "hello"}},
				&sdk.ImageContent{Data: []byte{1}},
			}},
			want: Result{Text: "see:\n" +
				"[image image/png, 1234 bytes]\n" +
				"[audio audio/wav, 10 bytes]\n" +
				`[resource link file:///a.txt, name "a", text/plain, 42 bytes]` + "\n" +
				"[resource file:///b.bin application/octet-stream, 7 bytes]\n" +
				"[resource file:///c.txt of unknown type, 5 bytes]\n" +
				"[image of unknown type, 1 bytes]"},
		},
		{
			name: "structured content when there is no text",
			in:   &sdk.CallToolResult{StructuredContent: map[string]any{"sum": 5}},
			want: Result{Text: `{"sum":5}`},
		},
		{
			name: "structured content after a summary",
			in: &sdk.CallToolResult{
				Content:           []sdk.Content{&sdk.ImageContent{Data: []byte{1, 2}, MIMEType: "image/gif"}},
				StructuredContent: map[string]any{"ok": true},
			},
			want: Result{Text: "[image image/gif, 2 bytes]\n{\"ok\":true}"},
		},
		{
			name: "structured content ignored when there is text",
			in: &sdk.CallToolResult{
				Content:           []sdk.Content{&sdk.TextContent{Text: "5"}},
				StructuredContent: map[string]any{"sum": 5},
			},
			want: Result{Text: "5"},
		},
		{
			name: "empty",
			in:   &sdk.CallToolResult{},
			want: Result{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, toResult(tt.in))
		})
	}
}
