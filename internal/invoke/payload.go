package invoke

import (
	"encoding/json"
	"fmt"
)

// normalizePayload checks an event is JSON, as Lambda does; an empty body
// is the empty object.
func normalizePayload(p []byte) ([]byte, error) {
	if len(p) == 0 {
		return []byte("{}"), nil
	}
	if !json.Valid(p) {
		return nil, fmt.Errorf("%w: Could not parse request body into json: the payload is not valid JSON", ErrBadPayload)
	}
	return p, nil
}
