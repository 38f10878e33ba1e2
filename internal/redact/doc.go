// Package redact hides secrets in connection strings and URLs before they reach a log
// line or an error, so that sluice writes each rule once.
//
// # Connection strings
//
// [DSN] replaces every password in a PostgreSQL URL (its user info and any query
// parameter whose name holds "password", sslpassword included) or keyword/value string
// (quoted or not, with backslash escapes) by [Mask]. It does not trust its input to be
// well formed, and it takes free text too, such as an error that quotes a DSN: a password
// that makes url.Parse fail, or that holds spaces, quotes or "@", is still hidden. When in
// doubt it hides more than the password, never less.
//
// [Secrets] returns the passwords themselves, as written and as decoded, so that text
// which repeats them (a driver's error) can be scrubbed.
//
// # Resource URLs
//
// [URL] is for http, https and s3 URLs, whose query (a signed URL's token) and user
// info (a token in the user name) are secrets as much as a password is. Other strings go
// through [DSN].
package redact
