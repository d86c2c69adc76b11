package taskio

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strconv"
	"unicode/utf8"
)

// ParseObject checks that b is one JSON object and returns it compacted.
func ParseObject(what string, b []byte) (json.RawMessage, error) {
	return parseObject(what, b, true)
}

// parseObject is ParseObject; with fast unset it decodes every object,
// as the fast path's tests compare.
func parseObject(what string, b []byte, fast bool) (json.RawMessage, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, fmt.Errorf("%s is empty: want a JSON object", what)
	}
	// json.Compact checks b as strictly as the decoder below: when it
	// takes b and b is an object, so would the decoder, and it is one
	// pass where the decoder builds every value. The decoder is left for
	// the message about what is wrong.
	if fast && b[0] == '{' {
		buf := bytes.NewBuffer(make([]byte, 0, len(b)))
		if json.Compact(buf, b) == nil {
			return buf.Bytes(), nil
		}
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%s is not valid JSON: %v", what, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s has data after the JSON object", what)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("%s must be a JSON object, not %s", what, jsonKind(v))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "something else"
}

// Object is a JSON object's members in the order written, so that
// submit can add to an input without reordering what the user wrote.
type Object []member

type member struct {
	key   string
	value json.RawMessage
}

// DecodeObject splits a JSON object into its members.
func DecodeObject(raw json.RawMessage) (Object, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, fmt.Errorf("not a JSON object")
	}
	var out Object
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{key, v})
	}
	return out, nil
}

// get returns the value of key (the last, if it is given twice, as
// encoding/json reads it).
func (o Object) Get(key string) (json.RawMessage, bool) {
	for i := len(o) - 1; i >= 0; i-- {
		if o[i].key == key {
			return o[i].value, true
		}
	}
	return nil, false
}

// set gives key the value v, in place of every earlier value, or as a new
// last member.
func (o *Object) Set(key string, v any) {
	o.SetRaw(key, marshalPlain(v))
}

func (o *Object) SetRaw(key string, v json.RawMessage) {
	found := false
	for i := range *o {
		if (*o)[i].key == key {
			(*o)[i].value, found = v, true
		}
	}
	if !found {
		*o = append(*o, member{key, v})
	}
}

// encode writes the object compactly, members in order.
func (o Object) Encode() json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(marshalPlain(m.key))
		b.WriteByte(':')
		if err := json.Compact(&b, m.value); err != nil {
			b.Write(m.value)
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

// marshalPlain is json.Marshal without escaping <, > and &, which are
// common in commands and would be stored as \u003c and the like.
func marshalPlain(v any) json.RawMessage {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return json.RawMessage("null")
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

// SameJSON reports whether two JSON values are equal as values: key order
// and spacing do not matter, numbers compare as written.
func SameJSON(a, b json.RawMessage) bool {
	var va, vb any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&va) != nil || db.Decode(&vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

// InferType is the task type an input's fields imply: "exec" for
// "command" or "shell", "agent" for "prompt", "" when it has neither or
// both.
func InferType(in Object) string {
	_, cmd := in.Get("command")
	_, shell := in.Get("shell")
	_, prompt := in.Get("prompt")
	switch {
	case (cmd || shell) && !prompt:
		return "exec"
	case prompt && !cmd && !shell:
		return "agent"
	}
	return ""
}

// ExecInputDir returns an exec input that names its working directory: cwd
// when it has no "dir" (or an empty one), and a relative "dir" taken from
// cwd. A "dir" that is not a string is left for validation to refuse.
func ExecInputDir(in Object, cwd string) Object {
	raw, ok := in.Get("dir")
	var dir string
	if ok && json.Unmarshal(raw, &dir) != nil {
		return in
	}
	switch {
	case dir == "":
		dir = cwd
	case !filepath.IsAbs(dir):
		dir = filepath.Join(cwd, dir)
	default:
		return in
	}
	out := append(Object(nil), in...)
	out.Set("dir", dir)
	return out
}

// members walks the members of a JSON object without decoding them: the
// fast paths of ParseObject, parseLine and execInputDir use it on text
// already known to be one valid JSON object (json.Valid or json.Compact
// said so), and leave anything unusual to encoding/json.
type members struct {
	b []byte
	i int
}

// newMembers starts a walk of obj, a valid JSON object without leading
// space.
func newMembers(obj []byte) members { return members{b: obj, i: 1} }

// next returns the next member: its key as written between the quotes
// (escapes left as they are) and its value as written. ok is false after
// the last member.
func (m *members) next() (key, value []byte, ok bool) {
	m.space()
	if m.i >= len(m.b) || m.b[m.i] == '}' {
		return nil, nil, false
	}
	if m.b[m.i] == ',' {
		m.i++
		m.space()
	}
	start := m.i
	m.skipString()
	key = m.b[start+1 : m.i-1]
	m.space()
	m.i++ // ':'
	m.space()
	start = m.i
	m.skipValue()
	return key, m.b[start:m.i], true
}

func (m *members) space() {
	for m.i < len(m.b) {
		switch m.b[m.i] {
		case ' ', '\t', '\r', '\n':
			m.i++
		default:
			return
		}
	}
}

// skipString moves past the string that starts at m.i.
func (m *members) skipString() {
	for m.i++; m.i < len(m.b); m.i++ {
		switch m.b[m.i] {
		case '\\':
			m.i++
		case '"':
			m.i++
			return
		}
	}
}

// skipValue moves past the value that starts at m.i.
func (m *members) skipValue() {
	switch m.b[m.i] {
	case '"':
		m.skipString()
	case '{', '[':
		depth := 0
		for m.i < len(m.b) {
			switch m.b[m.i] {
			case '"':
				m.skipString()
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					m.i++
					return
				}
			}
			m.i++
		}
	default: // a number, true, false or null
		for m.i < len(m.b) {
			switch m.b[m.i] {
			case ',', '}', ']', ' ', '\t', '\r', '\n':
				return
			}
			m.i++
		}
	}
}

// plainString returns the text of the JSON string value v when reading it
// needs nothing but taking its bytes: no escapes, valid UTF-8. Otherwise
// ok is false.
func plainString(v []byte) (s string, ok bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	v = v[1 : len(v)-1]
	if bytes.IndexByte(v, '\\') >= 0 || !utf8.Valid(v) {
		return "", false
	}
	return string(v), true
}

// plainInt returns the JSON number v as an int when it is written as a
// whole number that fits one. Otherwise ok is false.
func plainInt(v []byte) (n int, ok bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	for _, c := range v[1:] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(string(v))
	return n, err == nil
}

// plainKey reports whether key, a member's key as written, is printable
// ASCII without escapes: Object.Encode writes such a key back unchanged.
func plainKey(key []byte) bool {
	for _, c := range key {
		if c < 0x20 || c > 0x7e || c == '\\' {
			return false
		}
	}
	return true
}
