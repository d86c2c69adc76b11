package agent

import (
	"github.com/opsctl/opsctl/internal/llm"
)

// The conversation is the run's short-term memory. It grows by an assistant
// message and a tool-result message per step; when Config.MemoryBudget is set
// it is trimmed before a model call that would exceed it.

// charsPerToken is the rough ratio used to estimate tokens from text. It
// only decides when to trim, so being roughly right is enough.
const charsPerToken = 4

// estimateTokens approximates the tokens of a system prompt and messages.
func estimateTokens(system string, msgs []llm.Message) int {
	n := len(system)
	for _, m := range msgs {
		n += messageChars(m)
	}
	return n / charsPerToken
}

// messageChars counts the characters of a message that reach the model.
func messageChars(m llm.Message) int {
	n := 0
	for _, p := range m.Parts {
		n += len(p.Text)
		if c := p.ToolCall; c != nil {
			n += len(c.ID) + len(c.Name) + len(c.Arguments)
		}
		if r := p.ToolResult; r != nil {
			n += len(r.CallID) + len(r.Name) + len(r.Content)
		}
	}
	return n
}

// trimConversation drops the oldest turns until the estimate fits budget.
// It always keeps the first message (the task prompt) and the newest turn,
// so the model never loses the task or the result it just asked for; if
// those alone exceed the budget they are sent anyway. An assistant message
// with tool calls and the tool-result message answering it form one turn and
// are dropped together, because providers refuse a tool result without its
// call and a call without its result. It returns the kept messages and how
// many were dropped; msgs itself is not modified.
func trimConversation(system string, msgs []llm.Message, budget int) ([]llm.Message, int) {
	if budget <= 0 || len(msgs) < 2 || estimateTokens(system, msgs) <= budget {
		return msgs, 0
	}
	turns := splitTurns(msgs[1:])
	total := len(system) + messageChars(msgs[0])
	for _, t := range turns {
		total += t.chars
	}
	start := 0
	for start < len(turns)-1 && total/charsPerToken > budget {
		total -= turns[start].chars
		start++
	}
	if start == 0 {
		return msgs, 0
	}
	kept := []llm.Message{msgs[0]}
	dropped := 0
	for i, t := range turns {
		if i < start {
			dropped += len(t.msgs)
			continue
		}
		kept = append(kept, t.msgs...)
	}
	return kept, dropped
}

// turn is a group of messages that is kept or dropped as a whole.
type turn struct {
	msgs  []llm.Message
	chars int
}

// splitTurns groups messages into turns: an assistant message with tool
// calls together with the tool-result message right after it, and every
// other message on its own.
func splitTurns(msgs []llm.Message) []turn {
	var turns []turn
	for i := 0; i < len(msgs); i++ {
		t := turn{msgs: msgs[i : i+1]}
		if msgs[i].Role == llm.RoleAssistant && len(msgs[i].ToolCalls()) > 0 &&
			i+1 < len(msgs) && msgs[i+1].Role == llm.RoleTool {
			t.msgs = msgs[i : i+2]
			i++
		}
		for _, m := range t.msgs {
			t.chars += messageChars(m)
		}
		turns = append(turns, t)
	}
	return turns
}
