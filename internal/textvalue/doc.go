// Package textvalue reads a value written as text into the Go value its column type
// carries in an [etl.Row]: the rules the CSV source applies to every field and the JSON
// source to every string, so that "2024-05-01 12:00:00+02", "12.50" or "yes" mean the
// same whichever source read them.
//
// # Rules
//
// The forms each type accepts are those PostgreSQL's own text input accepts and that
// every sink can store: see [Parse]. Deciding which texts mean NULL is the caller's
// business.
//
// # Errors
//
// A text that does not parse gives an error matching [ErrInvalidValue], or
// [ErrInvalidUTF8] for text that is not UTF-8. The sources re-export these sentinels.
package textvalue
