// Package httpevent translates between HTTP and the Lambda event of API
// Gateway HTTP APIs, payload format 2.0, which Lambda function URLs share.
// It lets ember expose functions as HTTP endpoints to handlers written for
// events.APIGatewayV2HTTPRequest / events.LambdaFunctionURLRequest.
//
// Request builds the event from an *http.Request; WriteResponse turns the
// function's result back into an HTTP response; Router picks the route of a
// published API the way API Gateway does. The event structs are this
// package's own, kept unexported: callers only ever hold JSON, and the tests
// prove the JSON against aws-lambda-go's types.
//
// Where the documentation is silent, this package follows what real API
// Gateway and function URLs were observed to do:
//
//   - Under a named stage, rawPath and requestContext.http.path start with
//     "/{stage}"; under $default they do not. Handlers depend on it
//     (Powertools slices len("/"+stage) off rawPath unconditionally), so
//     Route.Path is the path below the stage and Request adds the prefix.
//   - rawPath stays percent-encoded as sent, as function URLs deliver it.
//     HTTP APIs decode it, which is lossy (%2F, a decoded '?'); ember does
//     not copy that. pathParameters and queryStringParameters are decoded.
//   - The body is text (isBase64Encoded false) only for text/*,
//     application/json, application/xml and application/javascript; every
//     other type, a missing Content-Type and form posts included, is base64.
//     Text that is not valid UTF-8, or has a Content-Encoding, is base64 too,
//     so no byte is lost.
//   - Empty body, query, cookies, path parameters and stage variables are
//     left out of the event rather than sent as null: strict validators
//     reject null where AWS sends nothing.
//   - Cookie headers become the cookies array and leave headers; repeated
//     headers and query keys are joined with "," (no space).
//   - Transport and credential headers are not forwarded: hop-by-hop
//     headers, a SigV4 Authorization, X-Amz-Date, X-Amz-Security-Token,
//     X-Amz-Content-Sha256, X-Ember-*; likewise the X-Amz-* parameters of a
//     presigned query. X-Forwarded-For/-Proto/-Port are added as AWS does.
//   - A response is structured when it is a JSON object with a non-null
//     statusCode; any other valid JSON is the body of a 200. Both get
//     Content-Type application/json unless the function set one, even with
//     an empty body. multiValueHeaders is ignored (API Gateway ignores it in
//     2.0; aws-lambda-go always sends it as null). Scalars are coerced the
//     way API Gateway's parser does ("200", "true", numbers as body or header
//     values); objects where a scalar belongs, bad base64, a status outside
//     200–599, invalid JSON or a payload over 6 MB give 502
//     {"message":"Internal Server Error"}.
//   - cookies become one Set-Cookie each, before any Set-Cookie the function
//     put in headers; a header value with commas stays one header.
package httpevent
