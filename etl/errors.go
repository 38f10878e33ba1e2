package etl

import "errors"

// ErrLocked is returned when another run of the same pipeline holds its lock and the wait
// bound ran out. Test for it with errors.Is.
var ErrLocked = errors.New("another run of this pipeline holds the lock")

// ErrEmpty is returned by a full refresh that read no rows, unless the pipeline allows an
// empty load: an empty extract usually means a broken source, and it must not wipe the
// target. Test for it with errors.Is.
var ErrEmpty = errors.New("the extract returned no rows; refusing to empty the target (set AllowEmpty to permit it)")

// ErrNoTable is wrapped by the error of a load whose target table does not exist and
// whose sink was not told to create it. The error names the table; set the sink's
// Create to make the table from the stream's schema. Test for it with errors.Is.
var ErrNoTable = errors.New("the target table does not exist")
