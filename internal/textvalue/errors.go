package textvalue

import "errors"

// Sentinels for a value that cannot be read. Test for them with errors.Is.
var (
	// ErrInvalidUTF8 marks a text or JSON value that is not valid UTF-8.
	ErrInvalidUTF8 = errors.New("invalid UTF-8")
	// ErrInvalidValue marks a value that does not parse as its column's type.
	ErrInvalidValue = errors.New("invalid value")
	// ErrNull marks a NULL in a column whose schema says NotNull.
	ErrNull = errors.New("NULL in a NOT NULL column")
)
