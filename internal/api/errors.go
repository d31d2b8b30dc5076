package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/ember-run/ember/internal/account"
	"github.com/ember-run/ember/internal/catalog"
	"github.com/ember-run/ember/internal/invoke"
	"github.com/ember-run/ember/internal/metering"
	"github.com/ember-run/ember/internal/policy"
	"github.com/ember-run/ember/internal/pubapi"
	"github.com/ember-run/ember/internal/secrets"
	"github.com/ember-run/ember/internal/sigv4"
	"github.com/ember-run/ember/internal/store"
)

// Errors raised by the edge itself.
var (
	errBadRequest   = errors.New("api: bad request")
	errBadParameter = errors.New("api: invalid parameter")
	errBodyTooLarge = errors.New("api: request too large")
	errUnknownRoute = errors.New("api: unknown operation")
	errMethod       = errors.New("api: method not allowed")
	errDenied       = errors.New("api: access denied")
)

// errorTable maps every error class to its Lambda type and status. Order
// matters only where one error wraps several sentinels.
var errorTable = []struct {
	err    error
	status int
	typ    string
	msg    string // fixed message, when the AWS one is fixed
}{
	{sigv4.ErrMissing, 403, "MissingAuthenticationTokenException", "Missing Authentication Token"},
	{sigv4.ErrMalformed, 403, "IncompleteSignatureException", ""},
	{sigv4.ErrUnknownKey, 403, "UnrecognizedClientException", "The security token included in the request is invalid."},
	{account.ErrUnknownKey, 403, "UnrecognizedClientException", "The security token included in the request is invalid."},
	{sigv4.ErrMismatch, 403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."},
	{sigv4.ErrExpired, 403, "InvalidSignatureException", ""},
	{errDenied, 403, "AccessDeniedException", ""},
	{account.ErrForbidden, 403, "AccessDeniedException", ""},
	{catalog.ErrNotFound, 404, "ResourceNotFoundException", ""},
	{account.ErrNotFound, 404, "ResourceNotFoundException", ""},
	{store.ErrNotFound, 404, "ResourceNotFoundException", "The resource you requested does not exist."},
	{errUnknownRoute, 404, "UnknownOperationException", ""},
	{errProvisionedNotFound, 404, "ProvisionedConcurrencyConfigNotFoundException", ""},
	{invoke.ErrThrottled, 429, "TooManyRequestsException", ""},
	{invoke.ErrTooLarge, 413, "RequestTooLargeException", ""},
	{invoke.ErrBadPayload, 400, "InvalidRequestContentException", ""},
	{invoke.ErrRuntime, 502, "InvalidRuntimeException", ""},
	{invoke.ErrUnavailable, 502, "ResourceNotReadyException", ""},
	{invoke.ErrClosed, 503, "ServiceException", "ember is shutting down; retry"},
	{errMethod, 405, "MethodNotAllowedException", ""},
	{catalog.ErrForbidden, 403, "AccessDeniedException", ""},
	{catalog.ErrExists, 409, "ResourceConflictException", ""},
	{catalog.ErrConflict, 409, "ResourceConflictException", ""},
	{account.ErrExists, 409, "ResourceConflictException", ""},
	{catalog.ErrPrecondition, 412, "PreconditionFailedException", ""},
	{catalog.ErrPolicyLength, 400, "PolicyLengthExceededException", ""},
	{catalog.ErrInvalid, 400, "InvalidParameterValueException", ""},
	{policy.ErrWidens, 400, "InvalidParameterValueException", ""},
	{secrets.ErrNotFound, 404, "ResourceNotFoundException", ""},
	{secrets.ErrInvalid, 400, "InvalidParameterValueException", ""},
	{metering.ErrInvalid, 400, "InvalidParameterValueException", ""},
	{policy.ErrInvalid, 400, "InvalidParameterValueException", ""},
	{account.ErrInvalid, 400, "InvalidParameterValueException", ""},
	{pubapi.ErrNotFound, 404, "ResourceNotFoundException", ""},
	{pubapi.ErrForbidden, 403, "AccessDeniedException", ""},
	{pubapi.ErrInvalid, 400, "InvalidParameterValueException", ""},
	{pubapi.ErrExists, 409, "ResourceConflictException", ""},
	{pubapi.ErrConflict, 409, "ResourceConflictException", ""},
	{errBadParameter, 400, "InvalidParameterValueException", ""},
	{errBadRequest, 400, "InvalidRequestContentException", ""},
	{catalog.ErrTooLarge, 413, "RequestEntityTooLargeException", ""},
	{errBodyTooLarge, 413, "RequestTooLargeException", ""},
}

// lambdaError is the body of every error response.
type lambdaError struct {
	Type    string `json:"Type"`
	Message string `json:"Message"`
	Reason  string `json:"Reason,omitempty"`
}

// classify finds an error's status, type and user-facing message. Unknown
// errors are internal: their text is not shown to the caller.
func classify(err error) (status int, typ, msg string, internal bool) {
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			msg = e.msg
			if msg == "" {
				msg = strings.TrimPrefix(err.Error(), e.err.Error()+": ")
			}
			return e.status, e.typ, msg, false
		}
	}
	return 500, "ServiceException", "An internal error occurred in ember.", true
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	writeErrorReason(w, status, typ, msg, "")
}

// writeErrorReason writes an error body with Lambda's optional Reason (429s).
func writeErrorReason(w http.ResponseWriter, status int, typ, msg, reason string) {
	kind := "User"
	if status >= 500 {
		kind = "Service"
	}
	body, _ := json.Marshal(lambdaError{Type: kind, Message: msg, Reason: reason})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Amzn-ErrorType", typ)
	h.Set("Content-Length", itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
