package v1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"legacyauth/gateway"
	"mime"
	"net/http"
	"strings"
)

// MaxJSONBody bounds JSON request bodies; every request here is a handful
// of short strings.
const MaxJSONBody = 64 << 10

// decodeJSON reads one JSON object into dst. Unknown fields are refused,
// so a client's typo fails loudly instead of being silently dropped.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return &httpProblem{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "Content-Type must be application/json"}
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return &httpProblem{http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, "JSON must be UTF-8"}
	}
	if r.ContentLength > MaxJSONBody {
		return tooLarge(MaxJSONBody)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return tooLarge(MaxJSONBody)
		}
		return invalid("the body could not be read")
	}
	if err := gateway.CheckJSONText(body); err != nil {
		return invalid(err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		return jsonError(err)
	}
	// A second value after the object is a malformed request, not
	// something to ignore.
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
		return invalid("the body must hold exactly one JSON object")
	}
	return nil
}

// jsonError turns a decoding failure into a problem whose detail names
// the field at fault but never echoes a value (it could be a password).
func jsonError(err error) error {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
	)
	switch {
	case errors.Is(err, io.EOF):
		return invalid("the body is empty; a JSON object is required")
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF):
		return invalid("the body is not well-formed JSON")
	case errors.As(err, &te):
		if te.Field == "" {
			return invalid("the body must be a JSON object")
		}
		return invalid(fmt.Sprintf("field %q must be a %s", te.Field, jsonTypeName(te.Type.Kind().String())))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		// encoding/json has no typed error for this; the name is quoted by it.
		return invalid(strings.TrimPrefix(err.Error(), "json: "))
	}
	return invalid("the body is not a valid JSON object")
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	}
	return "different type"
}

func tooLarge(limit int64) error {
	return &httpProblem{http.StatusRequestEntityTooLarge, CodeTooLarge, fmt.Sprintf("the body exceeds %d bytes", limit)}
}
