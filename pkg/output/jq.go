package output

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/itchyny/gojq"
)

// JQError is a --jq expression that does not parse or fails on the data.
type JQError struct{ Msg string }

func (e *JQError) Error() string { return e.Msg }

// CompileJQ checks a --jq expression before any request is made.
func CompileJQ(expr string) (*gojq.Code, error) {
	q, err := gojq.Parse(expr)
	if err != nil {
		return nil, &JQError{Msg: fmt.Sprintf("invalid --jq expression: %s", err)}
	}
	code, err := gojq.Compile(q, gojq.WithEnvironLoader(func() []string { return nil }))
	if err != nil {
		return nil, &JQError{Msg: fmt.Sprintf("invalid --jq expression: %s", err)}
	}
	return code, nil
}

// JQ filters the JSON document in r with expr and writes the results as gh
// does: a string raw on its own line, anything else as compact JSON.
func JQ(ctx context.Context, w io.Writer, r io.Reader, expr string) error {
	code, err := CompileJQ(expr)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(r)
	dec.UseNumber()
	for {
		var v any
		if err := dec.Decode(&v); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("--jq: the input is not JSON: %w", err)
		}
		iter := code.RunWithContext(ctx, v)
		for {
			out, ok := iter.Next()
			if !ok {
				break
			}
			if err, ok := out.(error); ok {
				var he *gojq.HaltError
				if errors.As(err, &he) && he.Value() == nil {
					break
				}
				return &JQError{Msg: "--jq: " + err.Error()}
			}
			if s, ok := out.(string); ok {
				if _, err := fmt.Fprintln(w, s); err != nil {
					return err
				}
				continue
			}
			var b bytes.Buffer
			enc := json.NewEncoder(&b)
			enc.SetEscapeHTML(false)
			if err := enc.Encode(out); err != nil {
				return err
			}
			if _, err := w.Write(b.Bytes()); err != nil {
				return err
			}
		}
	}
}
